-- Accounts, sessions, visitors, conversations and their messages.
-- Times are integer milliseconds since the Unix epoch, UTC.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    status TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    max_chats INTEGER NOT NULL DEFAULT 5 CHECK (max_chats >= 0),
    disabled INTEGER NOT NULL DEFAULT 0,
    last_assigned_at INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE visitors (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    visitor_id TEXT NOT NULL REFERENCES visitors (id),
    status TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'closed')),
    agent_id INTEGER REFERENCES users (id),
    last_seq INTEGER NOT NULL DEFAULT 0,
    visitor_name TEXT NOT NULL DEFAULT '',
    page_url TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT '',
    visitor_ip TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    assigned_at INTEGER,
    closed_at INTEGER,
    closed_by TEXT
) WITHOUT ROWID;

CREATE INDEX conversations_status ON conversations (status, created_at);
CREATE INDEX conversations_agent ON conversations (agent_id, status);
CREATE INDEX conversations_visitor ON conversations (visitor_id, status);
CREATE INDEX conversations_closed ON conversations (closed_at) WHERE status = 'closed';

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq INTEGER NOT NULL,
    client_msg_id TEXT,
    sender_type TEXT NOT NULL CHECK (sender_type IN ('visitor', 'agent', 'system')),
    sender_id TEXT NOT NULL DEFAULT '',
    sender_name TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    event TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
