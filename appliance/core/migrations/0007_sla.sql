-- Service desk SLAs (issue 12): the policies supervisors set, and each ticket's clocks.

-- A ticket gets the first enabled policy, by position, whose conditions it meets.
CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    position INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- JSON {"group_ids": [..], "types": [..], "priorities": [..], "tiers": [..]};
    -- an empty list matches any value.
    conditions TEXT NOT NULL DEFAULT '{}',
    -- Targets in business minutes; NULL: that metric has no target.
    first_response INTEGER CHECK (first_response > 0),
    next_response INTEGER CHECK (next_response > 0),
    resolution INTEGER CHECK (resolution > 0),
    hours TEXT,                              -- JSON {"mon": [["09:00", "18:00"]], ...}; NULL = always
    holidays TEXT NOT NULL DEFAULT '[]',     -- JSON ["2026-10-01", ...], box-local dates
    warn_share REAL NOT NULL DEFAULT 0.8 CHECK (warn_share > 0 AND warn_share < 1),
    -- JSON [{"metric": .., "offset_minutes": .., "action": .., "group_id": ..}, ...]
    levels TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX sla_policies_position ON sla_policies (position, id);

-- One clock per ticket and metric. No foreign key to tickets: that table comes from
-- another migration, and clocks are written in the ticket's own transaction.
CREATE TABLE ticket_sla (
    ticket_id INTEGER NOT NULL,
    metric TEXT NOT NULL CHECK (metric IN ('first_response', 'next_response', 'resolution')),
    policy_id INTEGER REFERENCES sla_policies (id) ON DELETE SET NULL,
    target_ms INTEGER,                       -- business ms allowed; NULL: no target
    used_ms INTEGER NOT NULL DEFAULT 0,      -- business ms used up to running_since
    running_since INTEGER,                   -- NULL while paused, fulfilled or stopped
    started_at INTEGER NOT NULL,             -- this cycle's start (next_response restarts)
    due_at INTEGER,                          -- the deadline while it runs
    warn_at INTEGER,                         -- warn_share of the target, while it runs
    -- The earliest warning, breach or escalation level not fired yet: what the minute
    -- pass looks for (it covers due_at, warn_at and the levels' times).
    next_at INTEGER,
    warned_at INTEGER,
    breached_at INTEGER,
    fulfilled_at INTEGER,
    stopped_at INTEGER,                      -- the ticket closed or was merged
    levels_fired TEXT NOT NULL DEFAULT '[]', -- JSON ["-30:notify", ...]: offset:action keys
    PRIMARY KEY (ticket_id, metric)
) WITHOUT ROWID;

CREATE INDEX ticket_sla_next ON ticket_sla (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX ticket_sla_policy ON ticket_sla (policy_id) WHERE stopped_at IS NULL;
