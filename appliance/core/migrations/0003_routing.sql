-- Routing and teamwork: groups (queues) with business hours, agents' scope, priority
-- points the supervisor edits, conference participants, missed chats, staff-only
-- messages (notes, whispers), canned answers and overflow work items.

-- Agents' scope. JSON arrays; an empty regions list means every region.
ALTER TABLE users ADD COLUMN tier TEXT NOT NULL DEFAULT 'normal'
    CHECK (tier IN ('normal', 'expert'));
ALTER TABLE users ADD COLUMN skills TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN regions TEXT NOT NULL DEFAULT '[]';

CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    strategy TEXT NOT NULL DEFAULT 'least_busy'
        CHECK (strategy IN ('least_busy', 'longest_idle', 'round_robin')),
    target_wait INTEGER NOT NULL DEFAULT 60 CHECK (target_wait > 0),       -- s, service level
    answer_timeout INTEGER NOT NULL DEFAULT 60 CHECK (answer_timeout > 0), -- s to answer
    max_wait INTEGER NOT NULL DEFAULT 600 CHECK (max_wait > 0),  -- s estimated, then overflow
    fallback_group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    fallback_after INTEGER NOT NULL DEFAULT 120 CHECK (fallback_after >= 0), -- s waited
    sticky INTEGER NOT NULL DEFAULT 1,      -- a returning visitor goes back to their agent
    hours TEXT NOT NULL DEFAULT '',         -- JSON {"mon": [["09:00", "18:00"]], ...}; '' = always
    holidays TEXT NOT NULL DEFAULT '[]',    -- JSON ["2026-10-01", ...], box-local dates
    is_default INTEGER NOT NULL DEFAULT 0,
    rr_cursor INTEGER NOT NULL DEFAULT 0,   -- round robin: the last agent id given a chat
    created_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX groups_default ON groups (is_default) WHERE is_default = 1;

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE INDEX group_members_user ON group_members (user_id);

-- Pre-chat topics: the visitor's choice sends the chat to a group, maybe with a skill.
CREATE TABLE topics (
    key TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    skill TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Rules for chats without a topic: the first match by position wins.
CREATE TABLE routes (
    id INTEGER PRIMARY KEY,
    position INTEGER NOT NULL DEFAULT 0,
    url_pattern TEXT NOT NULL DEFAULT '',  -- shell-style pattern on the page URL; '' = any
    region TEXT NOT NULL DEFAULT '',       -- '' = any
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    skill TEXT NOT NULL DEFAULT ''
);

-- The priority score is data: points per customer tier and topic, points per target
-- wait waited, and a bonus for transfers (someone is already talking to them).
CREATE TABLE priority_points (
    kind TEXT NOT NULL CHECK (kind IN ('tier', 'topic', 'wait', 'transfer')),
    key TEXT NOT NULL DEFAULT '',
    points REAL NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

INSERT INTO priority_points (kind, key, points) VALUES
    ('tier', 'vip', 60), ('tier', 'member', 20), ('tier', 'new', 0),
    ('wait', '', 30), ('transfer', '', 40);

ALTER TABLE visitors ADD COLUMN tier TEXT NOT NULL DEFAULT 'new'
    CHECK (tier IN ('vip', 'member', 'new'));

ALTER TABLE conversations ADD COLUMN group_id INTEGER REFERENCES groups (id);
ALTER TABLE conversations ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN skill TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN expert INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN queued_at INTEGER;          -- entered its current queue
ALTER TABLE conversations ADD COLUMN first_assigned_at INTEGER;  -- for the service level
ALTER TABLE conversations ADD COLUMN answered_at INTEGER;        -- owner's first reply
ALTER TABLE conversations ADD COLUMN preferred_agent_id INTEGER REFERENCES users (id);
-- A warm transfer to a group waits here while the current agent stays in the chat.
ALTER TABLE conversations ADD COLUMN transfer_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN transfer_group_id INTEGER REFERENCES groups (id);

UPDATE conversations SET queued_at = created_at;

CREATE INDEX conversations_queue ON conversations (group_id, queued_at)
    WHERE status = 'waiting' OR transfer_pending = 1;
CREATE INDEX conversations_group_closed ON conversations (group_id, closed_at)
    WHERE status = 'closed';

-- Colleagues invited into a conversation (a conference); the owner is agent_id.
CREATE TABLE participants (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;

CREATE INDEX participants_user ON participants (user_id);

CREATE TABLE missed_chats (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    at INTEGER NOT NULL
);

CREATE INDEX missed_chats_at ON missed_chats (at);
CREATE INDEX missed_chats_user ON missed_chats (user_id, at);

-- Notes and whispers share the conversation's sequence but never reach the visitor.
ALTER TABLE messages ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('public', 'staff'));

CREATE TABLE canned_answers (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER REFERENCES users (id) ON DELETE CASCADE,  -- NULL: shared by the team
    shortcut TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX canned_answers_shortcut ON canned_answers (coalesce(owner_id, 0), shortcut);

-- What a visitor leaves when nobody can take the chat: a message or a call-back request.
CREATE TABLE work_items (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'callback')),
    visitor_id TEXT NOT NULL REFERENCES visitors (id),
    conversation_id TEXT REFERENCES conversations (id),
    group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    name TEXT NOT NULL DEFAULT '',
    contact TEXT NOT NULL DEFAULT '',        -- phone number or e-mail address
    preferred_time TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at INTEGER NOT NULL,
    closed_at INTEGER,
    closed_by INTEGER REFERENCES users (id)
) WITHOUT ROWID;

CREATE INDEX work_items_status ON work_items (status, created_at);

-- One group to start with, open around the clock, with every existing user in it.
INSERT INTO groups (name, is_default, created_at) VALUES ('默认', 1, 0);
INSERT INTO group_members (group_id, user_id)
    SELECT (SELECT id FROM groups WHERE is_default = 1), id FROM users;
UPDATE conversations SET group_id = (SELECT id FROM groups WHERE is_default = 1);

-- The supervisor board counts the last hour's chats per group.
CREATE INDEX conversations_created ON conversations (created_at);
