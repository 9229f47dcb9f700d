-- More mail out: SLA notices to staff, the satisfaction follow-up (docs/email.md).
--
-- The kinds of the outbox and of the templates are no longer listed in the schema
-- (core/mail_templates.py KINDS holds them): every new kind of mail needed a rebuild
-- of both tables, and mails of kinds added apart could not be merged. The tables are
-- rebuilt once here, with every row kept.

ALTER TABLE mail_outbox RENAME TO mail_outbox_old;
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
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
INSERT INTO mail_outbox SELECT id, kind, ticket_id, message_id, recipient, raw, state,
    attempts, attempt_id, next_at, last_error, created_at, sent_at FROM mail_outbox_old;
DROP TABLE mail_outbox_old;  -- its index goes with it
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_at);
CREATE INDEX mail_outbox_ticket ON mail_outbox (ticket_id, kind) WHERE ticket_id IS NOT NULL;

ALTER TABLE mail_templates RENAME TO mail_templates_old;
CREATE TABLE mail_templates (
    kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    lang TEXT NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    subject TEXT NOT NULL CHECK (length(subject) <= 200),
    body TEXT NOT NULL CHECK (length(body) <= 10000),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, lang)
) WITHOUT ROWID;
INSERT INTO mail_templates SELECT kind, lang, subject, body, updated_at FROM mail_templates_old;
DROP TABLE mail_templates_old;

-- A console user's choice of SLA notices by mail, and the address they go to (users
-- have no address of their own). Without a row, or with no address, no mail.
CREATE TABLE mail_notice_prefs (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    address TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 254),
    sla_warning INTEGER NOT NULL DEFAULT 0 CHECK (sla_warning IN (0, 1)),
    sla_breach INTEGER NOT NULL DEFAULT 1 CHECK (sla_breach IN (0, 1)),
    updated_at INTEGER NOT NULL
);

-- The satisfaction follow-up is on by default (the admin turns it off on the E-mail card).
UPDATE mail_settings SET notify = json_insert(notify, '$[#]', 'satisfaction')
    WHERE json_valid(notify) AND NOT EXISTS (
        SELECT 1 FROM json_each(mail_settings.notify) WHERE value = 'satisfaction');
