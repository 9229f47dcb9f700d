-- Outgoing webhooks: receivers of the service desk's events, and the log of every
-- delivery to them (docs/webhooks.md). A delivery waits in the log until its receiver
-- answered 2xx or the sender gave up, so queued ones survive a restart.

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,                    -- HMAC-SHA256 key of the signatures
    events TEXT NOT NULL DEFAULT '[]',       -- JSON list of event names; [] = every event
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,                     -- d_…, random: the receiver's idempotency key
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,                   -- JSON text of the event's data
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'delivered', 'failed', 'gave_up')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,                 -- NULL once delivered or given up
    last_status_code INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);

-- The sender's "what is due": pending deliveries by the time of their next attempt.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
-- A webhook's log, newest first, and the cascade when a webhook is deleted.
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at, id);
-- Pruning of finished deliveries by age.
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
