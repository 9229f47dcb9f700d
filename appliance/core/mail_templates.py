"""The wording of the mails the box sends, per language, and how a template is filled.

A template names fields in braces: {number}, {subject}, {name}, {body}, {marker},
{date}, {link}, {minutes}.
Anything else in braces stays as written, so an admin's text can never reach into
the box (no format-string attributes, no code).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from appliance.core.errors import InvalidInput

KINDS: tuple[str, ...] = (
    "reply",
    "received",
    "answered",
    "resolved",
    "refused",
    "transcript",
    "portal_link",
)
# SLA notices to staff and the customer's satisfaction follow-up (core/mail_notices.py).
KINDS += ("sla_warning", "sla_breach", "satisfaction")
# A scheduled report to the addresses of a subscription (core/report_mail.py).
KINDS += ("report",)
LANGS = ("zh-CN", "en")
FIELDS = ("number", "subject", "name", "body", "marker", "date", "link", "minutes")
SUBJECT_MAX = 200
BODY_MAX = 10_000
_FIELD = re.compile(r"\{(" + "|".join(FIELDS) + r")\}")

# kind -> lang -> (subject, body). {marker} is the threading marker (mail_thread.py):
# keep it in a body so a reply from a client that drops headers still finds its ticket.
BUILT_IN: dict[str, dict[str, tuple[str, str]]] = {
    "reply": {
        "zh-CN": ("回复：{subject}", "{body}\n\n--\n工单号 {number}\n{marker}"),
        "en": ("Re: {subject}", "{body}\n\n--\nTicket {number}\n{marker}"),
    },
    "received": {
        "zh-CN": (
            "我们已收到您的请求：{subject}",
            "{name}您好，\n\n我们已收到您的请求，工单号 {number}。客服会尽快回复您。"
            "回复本邮件即可补充信息。\n\n{marker}",
        ),
        "en": (
            "We received your request: {subject}",
            "Hello {name},\n\nWe received your request; its number is {number}. We will "
            "answer soon. Reply to this mail to add anything.\n\n{marker}",
        ),
    },
    "answered": {
        "zh-CN": (
            "您的工单有新回复：{subject}",
            "{name}您好，\n\n客服回复了您的工单 {number}：\n\n{body}\n\n{marker}",
        ),
        "en": (
            "Your request was answered: {subject}",
            "Hello {name},\n\nWe answered your request {number}:\n\n{body}\n\n{marker}",
        ),
    },
    "resolved": {
        "zh-CN": (
            "您的工单已解决，请确认：{subject}",
            "{name}您好，\n\n您的工单 {number} 已解决，请确认。问题已解决则无需操作，工单将在"
            "几天后自动关闭；如仍未解决，请直接回复本邮件，工单将重新打开。\n\n{marker}",
        ),
        "en": (
            "Please confirm: your request is resolved: {subject}",
            "Hello {name},\n\nYour request {number} is resolved: please confirm. If it "
            "is, there is nothing to do, and it closes by itself in a few days; if it is "
            "not, reply to this mail and it opens again.\n\n{marker}",
        ),
    },
    "refused": {
        "zh-CN": (
            "您的邮件未能送达：{subject}",
            "您好，\n\n您的邮件太大（超过 {body}），我们无法接收。请缩小附件后重新发送，"
            "或改用链接分享文件。",
        ),
        "en": (
            "Your mail could not be accepted: {subject}",
            "Hello,\n\nYour mail is larger than {body}, so we could not accept it. Please "
            "send it again with smaller attachments, or share the files by a link.",
        ),
    },
    # The chat transcript a visitor asked for as the chat ended ({date}: when it began).
    "transcript": {
        "zh-CN": (
            "您的在线对话记录（{date}）",
            "您好，\n\n以下是您 {date} 的在线对话记录：\n\n{body}\n\n此邮件应您的要求自动发送。",
        ),
        "en": (
            "Your chat transcript ({date})",
            "Hello,\n\nHere is the transcript of your chat of {date}:\n\n{body}\n\n"
            "You asked for this mail as the chat ended.",
        ),
    },
    # The customer portal's one-time sign-in link (core/portal.py; {minutes}: how long
    # it works).
    "portal_link": {
        "zh-CN": (
            "登录客户服务门户",
            "{name}您好，\n\n请点击以下链接登录客户服务门户，查看您的工单：\n\n{link}\n\n"
            "链接 {minutes} 分钟内有效，只能使用一次。如果不是您本人申请，请忽略本邮件。",
        ),
        "en": (
            "Your sign-in link to the customer portal",
            "Hello {name},\n\nOpen this link to sign in to the customer portal and see "
            "your requests:\n\n{link}\n\nIt works once, within {minutes} minutes. If you "
            "did not ask for it, ignore this mail.",
        ),
    },
}

BUILT_IN.update(
    {
        # To a console user who asked for SLA notices by mail: {name} is theirs, {body}
        # the target and when it is due.
        "sla_warning": {
            "zh-CN": (
                "SLA 即将到期：工单 {number} {subject}",
                "{name}您好，\n\n工单 {number}（{subject}）的 {body}。请尽快处理。\n\n"
                "此邮件按您在“我的账户”中的设置自动发送。",
            ),
            "en": (
                "SLA due soon: ticket {number} {subject}",
                "Hello {name},\n\nTicket {number} ({subject}): {body}. Please see to it "
                "soon.\n\nSent because of your choice on your account page.",
            ),
        },
        "sla_breach": {
            "zh-CN": (
                "SLA 已超时：工单 {number} {subject}",
                "{name}您好，\n\n工单 {number}（{subject}）的 {body}。\n\n"
                "此邮件按您在“我的账户”中的设置自动发送。",
            ),
            "en": (
                "SLA breached: ticket {number} {subject}",
                "Hello {name},\n\nTicket {number} ({subject}): {body}.\n\n"
                "Sent because of your choice on your account page.",
            ),
        },
        # To the requester once their ticket closed: {body} holds the five links.
        "satisfaction": {
            "zh-CN": (
                "请评价我们的服务：{subject}",
                "{name}您好，\n\n您的工单 {number} 已完成。请点击下面一个链接，为我们的服务打分"
                "（1 = 很不满意，5 = 非常满意）：\n\n{body}\n\n"
                "每张工单只能评价一次，链接 30 天内有效。\n\n{marker}",
            ),
            "en": (
                "How did we do? {subject}",
                "Hello {name},\n\nYour request {number} is done. Please rate our service "
                "by opening one of these links (1 = very unhappy, 5 = very happy):\n\n{body}"
                "\n\nA ticket is rated once; the links work for 30 days.\n\n{marker}",
            ),
        },
    }
)

# A scheduled report: {name} is the subscription's, {date} the period (2026-12-05,
# 2026-W49, 2026-11), {body} its key figures as a plain-text table; the CSV is attached.
BUILT_IN["report"] = {
    "zh-CN": (
        "定时报表：{name}（{date}）",
        "您好，\n\n以下是报表“{name}”在 {date} 的主要数字：\n\n{body}\n\n"
        "完整报表见附件 CSV（可用 Excel 打开）。\n\n此邮件由 Callbox 按定时发送设置自动发送。",
    ),
    "en": (
        "Scheduled report: {name} ({date})",
        'Hello,\n\nHere are the key figures of the report "{name}" for {date}:\n\n'
        "{body}\n\nThe whole report is attached as CSV (opens in Excel).\n\n"
        "Sent by Callbox on the schedule set on its reports page.",
    ),
}
# Added to {date} of a report sent by hand ("send now"), not by its schedule.
MANUAL = {"zh-CN": "（手动发送）", "en": " (sent by hand)"}

# Words of the SLA notices and the satisfaction links.
METRIC = {
    "first_response": {"zh-CN": "首次响应", "en": "first response"},
    "next_response": {"zh-CN": "下次响应", "en": "next response"},
    "resolution": {"zh-CN": "解决", "en": "resolution"},
}
DUE = {
    "warning": {"zh-CN": "{metric}时限将于 {at} 到期", "en": "the {metric} target is due at {at}"},
    "breach": {"zh-CN": "{metric}时限已于 {at} 超时", "en": "the {metric} target passed at {at}"},
}
SCORES = {
    "zh-CN": ("很不满意", "不满意", "一般", "满意", "非常满意"),
    "en": ("very unhappy", "unhappy", "so-so", "happy", "very happy"),
}

# Words of a mailed transcript's lines.
VISITOR = {"zh-CN": "访客", "en": "Visitor"}
FILE = {"zh-CN": "[文件]", "en": "[file]"}
CUT = {"zh-CN": "……（对话过长，其余部分未列出）", "en": "… (a long chat: the rest is left out)"}


def fill(template: str, values: Mapping[str, str]) -> str:
    """Fill the named fields of a template; other braces stay as written."""
    return _FIELD.sub(lambda m: values.get(m.group(1), ""), template)


def check(kind: str, lang: str, subject: str, body: str) -> tuple[str, str]:
    """Return a template's text checked (422 with a code for what is wrong)."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    if lang not in LANGS:
        raise InvalidInput(f"lang must be one of {', '.join(LANGS)}")
    subject = " ".join(subject.split())
    if not subject or len(subject) > SUBJECT_MAX:
        raise InvalidInput(f"a template's subject is 1 to {SUBJECT_MAX} characters")
    if not body.strip() or len(body) > BODY_MAX:
        raise InvalidInput(f"a template's body is 1 to {BODY_MAX} characters")
    if kind in ("reply", "answered") and "{body}" not in body:
        raise InvalidInput("this template must hold {body}: the answer goes there")
    if kind == "portal_link" and "{link}" not in body:
        raise InvalidInput("this template must hold {link}: the sign-in link goes there")
    if kind == "report" and "{body}" not in body:
        raise InvalidInput("this template must hold {body}: the report's figures go there")
    if kind == "satisfaction" and "{body}" not in body:
        raise InvalidInput("this template must hold {body}: the rating links go there")
    return subject, body
