"""The store: every SQL statement of the core lives in one of these modules.

Each aggregate has one owner module, and only its owner writes its tables or reads
them as the main table of a query; a store may JOIN another aggregate's table (or
read it in a subquery) to fill in a name or a count, never change it. Services in
`appliance.core` hold the rules and call the store; they hold no SQL.
`tests/unit/test_store_owners.py` enforces this, with `OWNERS` below as the map.
"""

from __future__ import annotations

# table -> the store module (under appliance/core/store/) that owns it
OWNERS: dict[str, str] = {
    "users": "accounts",
    "sessions": "accounts",
    "staff_devices": "devices",
    "groups": "routing",
    "group_members": "routing",
    "topics": "routing",
    "routes": "routing",
    "priority_points": "routing",
    "conversations": "conversations",
    "messages": "conversations",
    "participants": "conversations",
    "missed_chats": "conversations",
    "visitors": "visitors",
    "customers": "customers",
    "identity_proofs": "customers",
    "visits": "visits",
    "page_views": "visits",
    "invitations": "invitations",
    "invite_rules": "invitations",
    "ticket_rules": "rules",
    "rule_runs": "rules",
    "work_items": "workitems",
    "canned_answers": "canned",
    "sites": "settings",
    "box_settings": "settings",
    "ip_ranges": "iptable",
    "tickets": "tickets",
    "ticket_events": "tickets",
    "ticket_counters": "tickets",
    "ticket_types": "tickets",
    "ticket_templates": "tickets",
    "ticket_conversations": "tickets",
    "ticket_visitors": "tickets",
    "ticket_schedules": "tickets",
    "ticket_work": "tickets",
    "webhooks": "webhooks",
    "webhook_deliveries": "webhooks",
    "sla_policies": "sla",
    "ticket_sla": "sla",
    "notifications": "notifications",
    "admin_audit": "audit",
    "user_totp": "two_factor",
    "recovery_codes": "two_factor",
    "two_factor_roles": "two_factor",
    "backup_settings": "backups",
    "backup_runs": "backups",
    "kb_categories": "knowledge",
    "kb_articles": "knowledge",
    "kb_versions": "knowledge",
    "kb_steps": "knowledge",
    "kb_editors": "knowledge",
    "kb_votes": "knowledge",
    "kb_points": "knowledge",
    "search_docs": "search",
    "search_queue": "search",
    "search_backfill": "search",
}
