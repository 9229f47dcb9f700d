-- Console notifications (站内通知): what the box tells one console user, shown under the
-- bell in the console's top bar. A row is written in the transaction of the ticket
-- history entry that causes it (an SLA warning, breach or escalation level, a rule's
-- "notify" action; `seq` names that entry), so the two commit together or not at all.
--
-- Bounded: each user keeps the newest 200 (core/store/notifications.py trims on insert).
-- AUTOINCREMENT: ids are never reused after a trim, so "read up to id N" and the live
-- announcements (everything after the last id announced) stay exact.

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,                  -- sla_warning, sla_breach, sla_level, rule
    ticket_id INTEGER REFERENCES tickets (id),
    seq INTEGER,                         -- the ticket's history entry that caused it
    data TEXT NOT NULL DEFAULT '{}' CHECK (length(data) <= 4000),  -- JSON object
    read_at INTEGER
);

CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;
