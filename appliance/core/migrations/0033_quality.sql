-- Agent scorecards and quality review (core/scorecards.py, core/quality.py,
-- store/quality.py; docs/reports.md "Scorecards and quality review").
--
-- A scorecard weighs report figures (and the quality score) into 0..100 points per
-- agent; its items are JSON [{figure, weight, target, direction}], weights summing to
-- 100. A checklist's items are JSON [{label, points, critical}]; each edit bumps its
-- version. A review keeps its own copy of the items it was scored on (with what each
-- got), the checklist's version and its score, so editing or deleting a checklist never
-- changes a review already made. `chat_at` is when the chat was offered: a review
-- counts in the period its chat counts in, as the reports do.

CREATE TABLE scorecards (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    items TEXT NOT NULL CHECK (json_valid(items) AND json_type(items) = 'array'),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE qa_checklists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    items TEXT NOT NULL CHECK (json_valid(items) AND json_type(items) = 'array'),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE qa_reviews (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    agent_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    reviewer_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    reviewer_name TEXT NOT NULL DEFAULT '',
    checklist_id INTEGER,
    checklist_name TEXT NOT NULL,
    checklist_version INTEGER NOT NULL,
    items TEXT NOT NULL CHECK (json_valid(items) AND json_type(items) = 'array'),
    score REAL NOT NULL CHECK (score BETWEEN 0 AND 100),
    critical_failed INTEGER NOT NULL DEFAULT 0 CHECK (critical_failed IN (0, 1)),
    comment TEXT NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
    chat_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- An agent's reviews, newest first; the period's mean per agent (covering: a scorecard
-- reads it without touching the rows).
CREATE INDEX qa_reviews_agent ON qa_reviews (agent_id, created_at);
CREATE INDEX qa_reviews_period ON qa_reviews (chat_at, agent_id, score);
CREATE INDEX qa_reviews_conversation ON qa_reviews (conversation_id);
