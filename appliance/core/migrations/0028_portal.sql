-- The customer portal (core/portal.py, docs/portal.md): sign-in tokens and sessions.
--
-- Tokens and session keys are stored as their SHA-256 only: a copy of the database
-- does not sign anyone in.

-- The e-mailed one-time sign-in links. (A site's signature used to sign in is recorded
-- with the widget's, in identity_proofs: one signature, one use, wherever it is used.)
CREATE TABLE portal_tokens (
    token_hash TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    email TEXT NOT NULL CHECK (length(email) <= 254),  -- lower case: the rate limit's key
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) WITHOUT ROWID;

CREATE INDEX portal_tokens_expiry ON portal_tokens (expires_at);
CREATE INDEX portal_tokens_email ON portal_tokens (email, created_at);

-- Signed-in customers. `email` is set for a session from an e-mailed link: it proves
-- the mailbox, so the customer sees every ticket whose requester has that address
-- (what the box already mails there). A session from the site's signature proves the
-- site's customer id only.
CREATE TABLE portal_sessions (
    token_hash TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    email TEXT NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    csrf_token TEXT NOT NULL CHECK (length(csrf_token) BETWEEN 16 AND 64),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);

-- The sign-in link is a mail of its own kind ('portal_link'), editable like the others:
-- the outbox's and the templates' kind checks are widened, which SQLite does only by
-- building the table anew (same columns, rows and index as 0025).
ALTER TABLE mail_outbox RENAME TO mail_outbox_0025;

CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'received', 'answered', 'resolved', 'refused',
        'transcript', 'portal_link')),
    ticket_id INTEGER REFERENCES tickets (id),
    message_id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL CHECK (length(recipient) <= 254),
    raw BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    attempt_id TEXT NOT NULL DEFAULT '',
    next_at INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '' CHECK (length(last_error) <= 500),
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);

INSERT INTO mail_outbox (id, kind, ticket_id, message_id, recipient, raw, state, attempts,
    attempt_id, next_at, last_error, created_at, sent_at)
SELECT id, kind, ticket_id, message_id, recipient, raw, state, attempts, attempt_id,
    next_at, last_error, created_at, sent_at FROM mail_outbox_0025;

DROP TABLE mail_outbox_0025;

CREATE INDEX mail_outbox_due ON mail_outbox (state, next_at);

ALTER TABLE mail_templates RENAME TO mail_templates_0025;

CREATE TABLE mail_templates (
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'received', 'answered', 'resolved', 'refused',
        'transcript', 'portal_link')),
    lang TEXT NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    subject TEXT NOT NULL CHECK (length(subject) <= 200),
    body TEXT NOT NULL CHECK (length(body) <= 10000),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, lang)
) WITHOUT ROWID;

INSERT INTO mail_templates (kind, lang, subject, body, updated_at)
SELECT kind, lang, subject, body, updated_at FROM mail_templates_0025;

DROP TABLE mail_templates_0025;
