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
    "storage_full": (
        "存储空间已满或磁盘故障（自 {since} 起）：新消息无法保存，请立即清理磁盘空间。",
        "Storage is full or failing (since {since}): nothing new can be stored. Free disk"
        " space now.",
    ),
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
    # Supervisor pages: wallboard, routing settings, work items.
    "nav_board": ("监控大屏", "Wallboard"),
    "nav_routing": ("路由设置", "Routing"),
    "nav_work_items": ("留言与回电", "Messages & call-backs"),
    "sup_needs_js": ("此页面需要启用 JavaScript。", "This page needs JavaScript."),
    "board_queues": ("队列", "Queues"),
    "board_no_queues": ("还没有客服组", "No groups yet"),
    "board_waiting": ("排队", "Waiting"),
    "board_transfers": ("待转接", "Pending transfers"),
    "board_longest": ("最长等待", "Longest wait"),
    "board_service_level": ("当前服务水平", "Service level now"),
    "board_target": ("目标:{seconds} 秒内接入", "Target: answered within {seconds} s"),
    "board_offered": ("近一小时 {n} 个会话", "Chats in the last hour: {n}"),
    "board_agents": ("客服", "Agents"),
    "board_status": ("状态", "Status"),
    "board_status_online": ("在线", "Online"),
    "board_status_away": ("离开", "Away"),
    "board_status_offline": ("离线", "Offline"),
    "board_load": ("接待 / 上限", "Load / max"),
    "board_missed": ("今日未接", "Missed today"),
    "board_groups": ("所属组", "Groups"),
    "board_watch_live": ("在控制台查看进行中的会话", "Watch live chats in the console"),
    "board_updated": ("更新于 {time}", "Updated {time}"),
    "board_stale": ("连接中断,数据可能已过时", "Connection lost; the figures may be stale"),
    "routing_error": ("未保存:{message}", "Not saved: {message}"),
    "routing_groups": ("客服组", "Groups"),
    "routing_new_group": ("新建组", "New group"),
    "routing_edit": ("编辑", "Edit"),
    "routing_save": ("保存", "Save"),
    "routing_saved": ("已保存", "Saved"),
    "routing_cancel": ("取消", "Cancel"),
    "routing_delete": ("删除组", "Delete group"),
    "routing_confirm_delete": (
        "删除组“{name}”?其进行中的会话将移到默认组,相关主题和规则一并删除。",
        "Delete the group “{name}”? Its open chats move to the default group; its topics "
        "and rules are deleted with it.",
    ),
    "routing_default": ("默认", "default"),
    "routing_name": ("名称", "Name"),
    "routing_strategy": ("分配策略", "Strategy"),
    "routing_strategy_least_busy": ("最空闲(当前会话最少)", "Least busy"),
    "routing_strategy_longest_idle": ("最久未分配", "Longest idle"),
    "routing_strategy_round_robin": ("轮流分配", "Round robin"),
    "routing_target_wait": ("目标等待(秒)", "Target wait (s)"),
    "routing_answer_timeout": ("振铃超时(秒)", "Answer timeout (s)"),
    "routing_max_wait": ("最长等待(秒)", "Max wait (s)"),
    "routing_fallback": ("溢出到组", "Fallback group"),
    "routing_fallback_none": ("不溢出", "None"),
    "routing_fallback_after": ("溢出前等待(秒)", "Fallback after (s)"),
    "routing_sticky": (
        "回访访客优先分配给上次的客服",
        "Sticky: returning visitors go to their agent",
    ),
    "routing_hours": ("营业时间", "Business hours"),
    "routing_always_open": ("全天开放", "Always open"),
    "routing_hours_hint": (
        "每天填写时段,如 09:00-12:00, 13:30-18:00;留空表示当天休息。",
        "Per day, spans such as 09:00-12:00, 13:30-18:00; empty means closed that day.",
    ),
    "routing_day_mon": ("周一", "Mon"),
    "routing_day_tue": ("周二", "Tue"),
    "routing_day_wed": ("周三", "Wed"),
    "routing_day_thu": ("周四", "Thu"),
    "routing_day_fri": ("周五", "Fri"),
    "routing_day_sat": ("周六", "Sat"),
    "routing_day_sun": ("周日", "Sun"),
    "routing_closed_day": ("休息", "closed"),
    "routing_holidays": ("节假日(休息)", "Holidays (closed)"),
    "routing_holidays_hint": ("每行一个日期,格式 YYYY-MM-DD", "One date per line, YYYY-MM-DD"),
    "routing_holidays_count": ("{n} 个节假日", "{n} holidays"),
    "routing_bad_span": (
        "无法识别时段“{text}”,请写成 HH:MM-HH:MM",
        "Cannot read “{text}”: write HH:MM-HH:MM",
    ),
    "routing_members": ("成员", "Members"),
    "routing_agents": ("客服服务范围", "Agents' scope"),
    "routing_list_hint": (
        "技能和地区可填多个,用逗号分隔。",
        "Skills and regions: separate several with commas.",
    ),
    "routing_skills": ("技能", "Skills"),
    "routing_regions": ("地区", "Regions"),
    "routing_tier": ("级别", "Tier"),
    "routing_tier_normal": ("普通", "Normal"),
    "routing_tier_expert": ("专家", "Expert"),
    "routing_max_chats": ("同时会话上限", "Max chats"),
    "routing_topics": ("咨询主题(访客开聊前选择)", "Pre-chat topics"),
    "routing_key": ("代码", "Key"),
    "routing_label": ("显示名称", "Label"),
    "routing_group": ("组", "Group"),
    "routing_skill": ("所需技能", "Skill"),
    "routing_add": ("添加一行", "Add a row"),
    "routing_remove": ("移除", "Remove"),
    "routing_up": ("上移", "Move up"),
    "routing_down": ("下移", "Move down"),
    "routing_rules": ("路由规则(按顺序匹配)", "Routing rules (tried in order)"),
    "routing_rules_hint": (
        "访客未选主题时,第一条页面地址和地区都匹配的规则决定其组;都不匹配则进入默认组。",
        "A chat without a topic goes to the group of the first rule whose page URL and "
        "region match; with no match, to the default group.",
    ),
    "routing_url_pattern": ("页面地址(可用 * 通配)", "Page URL (* wildcards)"),
    "routing_region": ("地区", "Region"),
    "routing_priority": ("优先级积分", "Priority points"),
    "routing_priority_hint": (
        "排队会话按积分从高到低服务:客户级别 + 主题 + 每等满一个目标等待时长的积分 + 转接加分。",
        "Waiting chats are served highest score first: customer tier + topic + points per "
        "target wait waited + transfer bonus.",
    ),
    "routing_customer_tier": ("客户级别", "Customer tier"),
    "routing_tier_vip": ("VIP", "VIP"),
    "routing_tier_member": ("会员", "Member"),
    "routing_tier_new": ("新客户", "New"),
    "routing_wait_points": ("每等满一个目标时长", "Per target wait waited"),
    "routing_transfer_points": ("转接加分", "Transfer bonus"),
    "routing_topic_points": ("主题积分", "Topic points"),
    "routing_points": ("积分", "Points"),
    "work_title": ("留言与回电请求", "Messages and call-back requests"),
    "work_show_closed": ("显示已处理", "Show done"),
    "work_kind": ("类型", "Kind"),
    "work_message": ("留言", "Message"),
    "work_callback": ("回电", "Call back"),
    "work_name": ("姓名", "Name"),
    "work_contact": ("联系方式", "Contact"),
    "work_preferred": ("方便时间", "Preferred time"),
    "work_body": ("内容", "Message"),
    "work_created": ("提交时间", "Received"),
    "work_group": ("组", "Group"),
    "work_done": ("处理完成", "Done"),
    "work_closed_at": ("已处理 {time}", "Done {time}"),
    "work_none": ("没有留言或回电请求", "No messages or call-back requests"),
    # Admin page: IP table, privacy, sites.
    "adm_needs_js": ("以下表单需要启用 JavaScript。", "The forms below need JavaScript."),
    "adm_iptable": ("IP 地址库", "IP address table"),
    "adm_iptable_intro": (
        "访客地区由此表查得,本机从不联网查询。可导入 ip2region 源数据(ip.merge.txt、"
        "ipv4_source.txt / ipv6_source.txt)或 IP2Location LITE CSV(DB1、DB3、DB5、DB9、"
        "DB11,IPv4 或 IPv6 版),最大 256 MiB。导入出错时保留原有数据。",
        "Visitors' regions come from this table; the box never looks addresses up online. "
        "Import ip2region source text (ip.merge.txt, ipv4_source.txt / ipv6_source.txt) or "
        "an IP2Location LITE CSV (DB1, DB3, DB5, DB9, DB11; IPv4 or IPv6 edition), up to "
        "256 MiB. A file with an error changes nothing.",
    ),
    "adm_ranges": ("地址段数", "Ranges"),
    "adm_format": ("格式", "Format"),
    "adm_imported": ("导入时间", "Imported"),
    "adm_never": ("尚未导入", "Never"),
    "adm_file": ("文件", "File"),
    "adm_format_auto": ("自动识别", "Detect"),
    "adm_import": ("导入", "Import"),
    "adm_importing": ("正在导入,请稍候…", "Importing, please wait…"),
    "adm_imported_ok": ("已导入 {n} 个地址段", "Imported {n} ranges"),
    "adm_choose_file": ("请先选择文件", "Choose a file first"),
    "adm_failed": ("失败:{message}", "Failed: {message}"),
    "adm_privacy": ("隐私与保留", "Privacy and retention"),
    "adm_honour_dnt": (
        "尊重浏览器的“请勿跟踪”(DNT)和全局隐私控制(GPC):不记录这些访客的浏览轨迹",
        "Honour Do-Not-Track and Global Privacy Control: do not record those visitors' pages",
    ),
    "adm_page_view_days": ("浏览记录保留天数(1–3650)", "Keep page views for days (1–3650)"),
    "adm_decline_quiet_days": (
        "同一访客两次自动邀请之间至少间隔天数(0–365,不论是否接受)",
        "Days between two automatic invitations of a visitor, whatever the answer (0–365)",
    ),
    "adm_save": ("保存", "Save"),
    "adm_saved": ("已保存", "Saved"),
    "adm_sites": ("网站与签名密钥", "Sites and signing secrets"),
    "adm_sites_intro": (
        "在网站页面中嵌入以下代码。已登录客户的身份由网站服务器用该站点的密钥签名:",
        "Put this tag in the website's pages. The site's server signs a logged-in "
        "customer's identity with the site's secret:",
    ),
    "adm_sign_hint": (
        "ts 为当前 Unix 秒数,签名 10 分钟内有效且只能被一位访客使用;密钥只保存在网站服务器上,"
        "切勿写进网页。",
        "ts is the current Unix time in seconds; a signature is valid for 10 minutes and for "
        "one visitor. Keep the secret on the site's server, never in a page.",
    ),
    "adm_site_key": ("站点代码", "Site key"),
    "adm_site_name": ("名称", "Name"),
    "adm_secret": ("密钥", "Secret"),
    "adm_embed": ("嵌入代码", "Embed tag"),
    "adm_reveal": ("显示", "Show"),
    "adm_hide": ("隐藏", "Hide"),
    "adm_rotate": ("更换密钥", "Rotate secret"),
    "adm_rotate_confirm": (
        "更换站点“{key}”的密钥?用旧密钥签名的身份将立即失效,网站服务器须改用新密钥。",
        "Rotate the secret of the site “{key}”? Identities signed with the old one stop "
        "working at once; the site's server must use the new one.",
    ),
    "adm_rotated": ("已更换密钥", "Secret rotated"),
    "adm_add_site": ("添加站点", "Add a site"),
    "adm_site_added": ("已添加站点", "Site added"),
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
