"""Server-rendered page text in zh-CN (default) and English."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh-CN", "en")
LANG_COOKIE = "callbox_lang"

_TEXT: dict[str, tuple[str, str]] = {
    # key: (zh-CN, en)
    "app": ("Callbox 呼叫中心", "Callbox"),
    "console": ("控制台", "Console"),
    "history": ("历史会话", "History"),
    "logout": ("退出", "Log out"),
    "login": ("登录", "Log in"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "display_name": ("显示名称", "Display name"),
    "login_failed": ("用户名或密码错误", "Wrong user name or password"),
    "login_throttled": (
        "尝试次数过多,请 {seconds} 秒后再试",
        "Too many attempts; try again in {seconds} s",
    ),
    "no_admin": (
        "尚未创建管理员。请使用启动时控制台打印的一次性设置链接,或运行 "
        "`appliance user add --role admin 用户名`。",
        "No administrator yet. Use the one-time setup link printed on the console at "
        "start, or run `appliance user add --role admin NAME`.",
    ),
    "setup": ("首次设置", "First-time setup"),
    "setup_intro": (
        "创建第一个管理员账号。此链接只能使用一次。",
        "Create the first administrator account. This link works once.",
    ),
    "setup_create": ("创建管理员", "Create administrator"),
    "setup_invalid": ("设置链接无效或已使用", "This setup link is invalid or was used"),
    "password_repeat": ("重复密码", "Repeat password"),
    "password_mismatch": ("两次输入的密码不一致", "The passwords differ"),
    "closed_chats": ("已结束的会话", "Closed conversations"),
    "visitor": ("访客", "Visitor"),
    "agent": ("客服", "Agent"),
    "started": ("开始时间", "Started"),
    "ended": ("结束时间", "Ended"),
    "messages": ("消息数", "Messages"),
    "page": ("来源页面", "Page"),
    "none_yet": ("暂无记录", "Nothing yet"),
    "older": ("更早", "Older"),
    "back": ("返回", "Back"),
    "transcript": ("会话记录", "Transcript"),
    "event_assigned": ("{name} 已接入会话", "{name} joined the conversation"),
    "event_closed": ("会话已结束", "Conversation closed"),
    "language": ("English", "中文"),
    "forbidden": ("无权访问", "Forbidden"),
    "admin": ("系统管理", "Administration"),
    "tunnel": ("中继隧道", "Relay tunnel"),
    "tunnel_state": ("状态", "State"),
    "tenant": ("租户", "Tenant"),
    "public_host": ("公网聊天域名", "Public chat host"),
    "overlay_address": ("隧道地址", "Overlay address"),
    "relay_endpoint": ("中继端点", "Relay endpoint"),
    "last_handshake": ("最近握手", "Latest handshake"),
    "traffic": ("流量", "Traffic"),
    "repairs": ("自动修复次数", "Repairs"),
    "not_enrolled": ("本机尚未加入中继。", "This box has not joined a relay."),
    "staff_devices": ("远程员工设备", "Staff devices"),
    "device": ("设备", "Device"),
    "created": ("创建时间", "Created"),
    "revoked": ("吊销时间", "Revoked"),
}


def translator(lang: str) -> Callable[..., str]:
    """Return t(key, **values) for one language."""
    index = 1 if lang == "en" else 0

    def t(key: str, **values: object) -> str:
        text = _TEXT[key][index]
        return text.format(**values) if values else text

    return t


def pick_lang(cookie: str | None, default: str) -> str:
    """Choose the page language: the user's choice, else the box's default."""
    return cookie if cookie in LANGS else default
