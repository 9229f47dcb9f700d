-- Recurring service tasks (定期巡检): a recurrence rule that opens a ticket from a
-- template. `last_run_at` is the occurrence last served; it is written in the same
-- transaction as the ticket it opened, so a crash never opens one twice.

CREATE TABLE ticket_schedules (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,             -- RFC 5545 RRULE, read in the box's zone
    template_id INTEGER NOT NULL REFERENCES ticket_templates (id),
    starts_at INTEGER NOT NULL,     -- UTC ms: the first wall time the rule counts from
    enabled INTEGER NOT NULL DEFAULT 1,
    last_run_at INTEGER,            -- the occurrence last served (UTC ms)
    last_ticket_id INTEGER REFERENCES tickets (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
