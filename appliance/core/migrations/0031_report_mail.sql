-- Scheduled reports by e-mail (core/report_mail.py, store/report_mail.py; docs/reports.md).
--
-- A subscription mails one report (period d/w/m x dimension) to up to 20 addresses
-- daily, on Mondays or on the 1st, at an hour of the box's local time. `served_until`
-- is the newest schedule slot served (UTC ms; set to the time of a schedule change, so
-- slots before it never count); the runner moves it in the same transaction as the
-- outbox rows it queues, so a restart never mails a period twice and a box that was off
-- mails the newest missed period once. A manual "send now" does not move it.

CREATE TABLE report_subscriptions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    recipients TEXT NOT NULL CHECK (json_valid(recipients) AND json_type(recipients) = 'array'),
    frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    hour INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    period TEXT NOT NULL CHECK (period IN ('d', 'w', 'm')),
    dim TEXT NOT NULL CHECK (dim IN ('all', 'agent', 'group', 'topic', 'channel', 'site')),
    lang TEXT NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    served_until INTEGER NOT NULL,
    last_period TEXT NOT NULL DEFAULT '' CHECK (length(last_period) <= 40),
    last_sent_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
