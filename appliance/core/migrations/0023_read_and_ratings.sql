-- Read state, chat ratings and transcript requests (docs/agent-guide.md, "Read state,
-- sneak peek and ratings"). Times are integer milliseconds since the Unix epoch, UTC.

-- How far each side has read a conversation: one row per conversation, two high-water
-- marks, advanced only forwards (core/readmarks.py coalesces the writes).
CREATE TABLE read_marks (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    visitor_seq INTEGER NOT NULL DEFAULT 0 CHECK (visitor_seq >= 0),
    agent_seq INTEGER NOT NULL DEFAULT 0 CHECK (agent_seq >= 0)
) WITHOUT ROWID;

-- The visitor's rating of an ended chat: one per conversation, changeable for a while.
CREATE TABLE chat_ratings (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '' CHECK (length(comment) <= 1000),
    rated_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A visitor asked for the transcript by e-mail. Kept as a request, shown to agents,
-- until the box sends e-mail itself (sent_at stays NULL until then).
CREATE TABLE transcript_requests (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
    email TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    requested_at INTEGER NOT NULL,
    sent_at INTEGER
) WITHOUT ROWID;
