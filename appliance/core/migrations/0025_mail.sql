-- E-mail in and out (core/mail_in.py, core/mail_out.py; docs/email.md).
--
-- Passwords are stored sealed (AES-GCM under a key derived from the box's secret.key,
-- as the backup WebDAV password): a copy of the database alone does not give them away.

-- One row: the SMTP server every mail goes out through, and who it is from.
CREATE TABLE mail_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    smtp_host TEXT NOT NULL DEFAULT '' CHECK (length(smtp_host) <= 255),  -- '' = no mail out
    smtp_port INTEGER NOT NULL DEFAULT 587 CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security TEXT NOT NULL DEFAULT 'starttls'
        CHECK (smtp_security IN ('starttls', 'tls', 'none')),
    smtp_user TEXT NOT NULL DEFAULT '' CHECK (length(smtp_user) <= 256),
    smtp_sealed BLOB,                            -- the password, sealed; NULL = none
    from_address TEXT NOT NULL DEFAULT '' CHECK (length(from_address) <= 254),
    from_name TEXT NOT NULL DEFAULT '' CHECK (length(from_name) <= 64),
    notify TEXT NOT NULL DEFAULT '["received","answered","resolved"]',  -- JSON list
    updated_at INTEGER NOT NULL DEFAULT 0
);

INSERT INTO mail_settings (id) VALUES (1);

-- IMAP mailboxes the box reads; each new message opens a ticket or joins one.
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    address TEXT NOT NULL CHECK (length(address) <= 254),  -- customers write here
    host TEXT NOT NULL CHECK (length(host) BETWEEN 1 AND 255),
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    security TEXT NOT NULL CHECK (security IN ('tls', 'starttls', 'none')),
    username TEXT NOT NULL CHECK (length(username) <= 256),
    sealed BLOB,                                 -- the password, sealed
    folder TEXT NOT NULL DEFAULT 'INBOX' CHECK (length(folder) BETWEEN 1 AND 200),
    lang TEXT NOT NULL DEFAULT 'zh-CN' CHECK (lang IN ('zh-CN', 'en')),
    group_id INTEGER,                            -- the group new tickets start in
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    status TEXT NOT NULL DEFAULT '' CHECK (length(status) <= 500),  -- last connection's outcome
    checked_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Every message seen in a mailbox, imported or set aside: the import's idempotence.
-- (mailbox, uidvalidity, uid) is the server's identity of a message, message_id the
-- sender's; a message is recorded in the same transaction as its ticket, before the
-- box flags it on the server, so a crash between the two imports nothing twice.
CREATE TABLE mail_messages (
    id INTEGER PRIMARY KEY,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    message_id TEXT NOT NULL CHECK (length(message_id) <= 998),  -- '' when it had none
    sender TEXT NOT NULL DEFAULT '' CHECK (length(sender) <= 254),
    subject TEXT NOT NULL DEFAULT '' CHECK (length(subject) <= 998),
    outcome TEXT NOT NULL CHECK (outcome IN ('opened', 'replied', 'ignored', 'refused')),
    reason TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    threaded_by TEXT NOT NULL DEFAULT ''
        CHECK (threaded_by IN ('', 'token', 'subject', 'marker')),
    ticket_id INTEGER REFERENCES tickets (id),
    html TEXT NOT NULL DEFAULT '',               -- the sanitised HTML body, if it had one
    attachments TEXT NOT NULL DEFAULT '[]',      -- JSON: name, type, size, sha256, cid
    at INTEGER NOT NULL,
    UNIQUE (mailbox_id, uidvalidity, uid)
);

CREATE INDEX mail_messages_mid ON mail_messages (message_id) WHERE message_id != '';
CREATE INDEX mail_messages_ticket ON mail_messages (ticket_id) WHERE ticket_id IS NOT NULL;

-- The outbox: each mail rendered once, when queued, so every attempt sends the same
-- bytes under the same Message-ID. 'sending' with an attempt id is written (and
-- committed) before the SMTP transaction starts; see core/mail_out.py.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'received', 'answered', 'resolved', 'refused',
        'transcript')),
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

CREATE INDEX mail_outbox_due ON mail_outbox (state, next_at);

-- The admin's own wording of a notification, per language; a kind without a row here
-- uses the built-in text (core/mail_templates.py).
CREATE TABLE mail_templates (
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'received', 'answered', 'resolved', 'refused',
        'transcript')),
    lang TEXT NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    subject TEXT NOT NULL CHECK (length(subject) <= 200),
    body TEXT NOT NULL CHECK (length(body) <= 10000),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, lang)
) WITHOUT ROWID;
