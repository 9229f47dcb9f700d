-- The service desk: tickets, their append-only history, numbers, types, templates,
-- and the conversations they came from.
--
-- `ticket_events` is the record: every change of a ticket is one row, and the
-- database itself refuses to change or remove a row once written (the triggers at the
-- end). `tickets` is a cache of what the events make (core/ticketflow.py `replay`),
-- kept in the same transaction, so lists and filters read one indexed row.

CREATE TABLE ticket_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);

INSERT INTO ticket_types (name, position) VALUES
    ('咨询', 1), ('故障', 2), ('投诉', 3), ('建议', 4), ('报修', 5);

-- The last number given out per local day; a number is never given twice, since rows
-- here only grow and tickets are never deleted.
CREATE TABLE ticket_counters (
    day TEXT PRIMARY KEY,  -- YYYYMMDD in the box's zone
    last INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'new'
        CHECK (state IN ('new', 'open', 'pending', 'resolved', 'closed', 'merged')),
    subject TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL DEFAULT 'normal'
        CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    channel TEXT NOT NULL DEFAULT '',
    requester_id INTEGER REFERENCES customers (id),
    group_id INTEGER,
    owner_id INTEGER,
    due_at INTEGER,
    tags TEXT NOT NULL DEFAULT '[]',       -- JSON list of text
    followers TEXT NOT NULL DEFAULT '[]',  -- JSON list of user ids
    escalation TEXT NOT NULL DEFAULT ''
        CHECK (escalation IN ('', 'expert', 'lead', 'manager', 'vendor')),
    vendor TEXT NOT NULL DEFAULT '',       -- the external vendor's name and contact
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    first_reply_at INTEGER,
    resolved_at INTEGER,
    closed_at INTEGER,
    merged_into INTEGER REFERENCES tickets (id),
    replies INTEGER NOT NULL DEFAULT 0,
    notes INTEGER NOT NULL DEFAULT 0,
    state_at INTEGER NOT NULL,  -- when it entered its current state
    last_seq INTEGER NOT NULL
);

CREATE INDEX tickets_state ON tickets (state, updated_at);
CREATE INDEX tickets_updated ON tickets (updated_at);
CREATE INDEX tickets_owner ON tickets (owner_id, state) WHERE owner_id IS NOT NULL;
CREATE INDEX tickets_group ON tickets (group_id, state);
CREATE INDEX tickets_requester ON tickets (requester_id, created_at);

CREATE TABLE ticket_events (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    by TEXT NOT NULL CHECK (by IN ('agent', 'customer', 'system')),
    actor_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',  -- JSON object
    PRIMARY KEY (ticket_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER ticket_events_keep BEFORE UPDATE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket history is append-only');
END;

CREATE TRIGGER ticket_events_stay BEFORE DELETE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket history is append-only');
END;

-- Chats a ticket came from or was linked to.
CREATE TABLE ticket_conversations (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, conversation_id)
) WITHOUT ROWID;

CREATE INDEX ticket_conversations_conv ON ticket_conversations (conversation_id);

-- 开单模版: the fields a phone ticket starts with.
CREATE TABLE ticket_templates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL DEFAULT 'normal'
        CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    group_id INTEGER,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
