-- Files sent in chats (pictures, PDF, Office documents, zip). The bytes live in the data
-- folder, under uploads/<first two hex digits>/<sha256 of the bytes>, written and synced
-- before a row names them, so a backup (the database copy, then the folder) always holds
-- every file its rows name. One row per message that carries a file; the same bytes sent
-- twice are one file on disk. `seq` is the message's, so a page of messages finds its
-- files with one range read.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    message_id TEXT NOT NULL UNIQUE REFERENCES messages (id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'pdf', 'office', 'zip', 'text')),
    mime TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size > 0),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    width INTEGER,
    height INTEGER,
    thumb_sha256 TEXT CHECK (thumb_sha256 IS NULL OR length(thumb_sha256) = 64),
    thumb_mime TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX files_by_seq ON files (conversation_id, seq);
CREATE INDEX files_by_hash ON files (sha256);
