-- Ticket rules (issue 12, item 5): triggers that act on ticket events and timed rules
-- checked every minute, edited by supervisors. The definition is the rule's JSON form
-- (appliance/core/rule_input.py reads it); the columns beside it are what lists and
-- the order of evaluation read.
CREATE TABLE ticket_rules (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('trigger', 'timed')),
    position INTEGER NOT NULL,            -- order of evaluation within its kind
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    name TEXT NOT NULL,
    definition TEXT NOT NULL CHECK (json_valid(definition)),  -- on, conditions, actions
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX ticket_rules_order ON ticket_rules (kind, position, id);

-- The tickets a once-per-ticket rule ran on: it never runs on them again.
-- No foreign key to tickets: that table comes with its own migration, and a run of a
-- deleted ticket's is harmless.
CREATE TABLE rule_runs (
    rule_id INTEGER NOT NULL REFERENCES ticket_rules (id) ON DELETE CASCADE,
    ticket_id INTEGER NOT NULL,
    ran_at INTEGER NOT NULL,
    PRIMARY KEY (rule_id, ticket_id)
) WITHOUT ROWID;

CREATE INDEX rule_runs_ticket ON rule_runs (ticket_id);
