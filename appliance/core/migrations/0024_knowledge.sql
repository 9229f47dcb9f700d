-- The knowledge base (articles in categories, every version kept, votes, views and
-- contributors' points) and the full-text search index over articles, tickets and
-- chat transcripts (core/search.py, core/textsearch.py).

CREATE TABLE kb_categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    name_en TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE kb_articles (
    id INTEGER PRIMARY KEY,
    category_id INTEGER REFERENCES kb_categories (id) ON DELETE SET NULL,
    audience TEXT NOT NULL DEFAULT 'internal' CHECK (audience IN ('internal', 'public')),
    state TEXT NOT NULL DEFAULT 'draft'
        CHECK (state IN ('draft', 'review', 'published', 'archived')),
    title TEXT NOT NULL,                  -- the newest version's zh-CN title, for lists
    author_id INTEGER NOT NULL REFERENCES users (id),
    version INTEGER NOT NULL,             -- the newest version
    published_version INTEGER,            -- the version readers see; NULL: none yet
    reviewer_id INTEGER REFERENCES users (id),
    views INTEGER NOT NULL DEFAULT 0,
    helpful INTEGER NOT NULL DEFAULT 0,
    not_helpful INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    published_at INTEGER
);

CREATE INDEX kb_articles_state ON kb_articles (state, updated_at);
CREATE INDEX kb_articles_category ON kb_articles (category_id, state);

-- Every saved version, never changed: the history an editor diffs.
CREATE TABLE kb_versions (
    article_id INTEGER NOT NULL REFERENCES kb_articles (id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    title_en TEXT NOT NULL DEFAULT '',
    body_en TEXT NOT NULL DEFAULT '',
    author_id INTEGER NOT NULL REFERENCES users (id),
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
) WITHOUT ROWID;

CREATE TRIGGER kb_versions_keep BEFORE UPDATE ON kb_versions
BEGIN
    SELECT RAISE(ABORT, 'article versions are never changed');
END;

CREATE TRIGGER kb_versions_stay BEFORE DELETE ON kb_versions
BEGIN
    SELECT RAISE(ABORT, 'article versions are never changed');
END;

CREATE TRIGGER kb_versions_new BEFORE INSERT ON kb_versions
WHEN EXISTS (
    SELECT 1 FROM kb_versions WHERE article_id = NEW.article_id AND version = NEW.version
)
BEGIN
    SELECT RAISE(ABORT, 'article versions are never changed');
END;

-- Who moved an article between states, and when (submitted, approved, sent back, ...).
CREATE TABLE kb_steps (
    article_id INTEGER NOT NULL REFERENCES kb_articles (id),
    at INTEGER NOT NULL,
    actor_id INTEGER NOT NULL REFERENCES users (id),
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    version INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);

CREATE INDEX kb_steps_article ON kb_steps (article_id, at);

-- Agents named editors: they approve articles as supervisors do.
CREATE TABLE kb_editors (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_by INTEGER REFERENCES users (id),
    granted_at INTEGER NOT NULL
);

-- One vote per voter and article ('u:<user id>' or 'v:<visitor id>'); a new vote
-- replaces the voter's old one.
CREATE TABLE kb_votes (
    article_id INTEGER NOT NULL REFERENCES kb_articles (id),
    voter TEXT NOT NULL,
    helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    at INTEGER NOT NULL,
    PRIMARY KEY (article_id, voter)
) WITHOUT ROWID;

-- 知识奖赏: a ledger of points; a user's total is the sum of their rows.
CREATE TABLE kb_points (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    article_id INTEGER NOT NULL REFERENCES kb_articles (id),
    reason TEXT NOT NULL CHECK (reason IN ('published', 'helpful')),
    points INTEGER NOT NULL,
    at INTEGER NOT NULL
);

CREATE INDEX kb_points_user ON kb_points (user_id, at);
-- A contributor is credited once per article for its publication.
CREATE UNIQUE INDEX kb_points_published ON kb_points (user_id, article_id)
    WHERE reason = 'published';

-- The search index. `search_docs` holds each indexed text (normalised, as indexed: the
-- snippets are cut from it, and a changed document's old terms are taken out of the
-- contentless FTS table with it); `search_fts` holds the 1+2-character terms.
CREATE TABLE search_docs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('article', 'ticket', 'chat')),
    ref TEXT NOT NULL,        -- article id, ticket id or conversation id
    part TEXT NOT NULL,       -- article: language; ticket: 'head' or event seq; chat: seq
    audience TEXT NOT NULL DEFAULT '',  -- articles: 'internal' or 'public'
    title TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    UNIQUE (kind, ref, part)
);

CREATE VIRTUAL TABLE search_fts USING fts5 (
    title, body, content = '', tokenize = 'unicode61 remove_diacritics 2'
);

-- What changed and waits to be (re)indexed; the indexer takes it in batches.
CREATE TABLE search_queue (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    part TEXT NOT NULL
);

-- Rows that existed before the index: the backfill walks them by key, in batches.
CREATE TABLE search_backfill (
    kind TEXT PRIMARY KEY,
    after TEXT NOT NULL DEFAULT '',   -- the last key done ('' = from the start)
    done INTEGER NOT NULL DEFAULT 0,  -- rows indexed so far
    total INTEGER NOT NULL DEFAULT 0, -- rows there were when it began
    finished INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO search_backfill (kind, total, finished)
    SELECT 'ticket', count(*), count(*) = 0 FROM tickets;
INSERT INTO search_backfill (kind, total, finished)
    SELECT 'ticket_event', count(*), count(*) = 0 FROM ticket_events
    WHERE kind IN ('reply', 'note');
INSERT INTO search_backfill (kind, total, finished)
    SELECT 'chat', count(*), count(*) = 0 FROM messages
    WHERE event IS NULL AND body != '' AND sender_type != 'system';

-- Every later change reaches the queue in the transaction that made it.
CREATE TRIGGER search_message_new AFTER INSERT ON messages
WHEN NEW.event IS NULL AND NEW.body != '' AND NEW.sender_type != 'system'
BEGIN
    INSERT INTO search_queue (kind, ref, part)
    VALUES ('chat', NEW.conversation_id, CAST(NEW.seq AS TEXT));
END;

CREATE TRIGGER search_ticket_new AFTER INSERT ON tickets
BEGIN
    INSERT INTO search_queue (kind, ref, part) VALUES ('ticket', CAST(NEW.id AS TEXT), 'head');
END;

CREATE TRIGGER search_ticket_text AFTER UPDATE OF subject, description ON tickets
WHEN OLD.subject IS NOT NEW.subject OR OLD.description IS NOT NEW.description
BEGIN
    INSERT INTO search_queue (kind, ref, part) VALUES ('ticket', CAST(NEW.id AS TEXT), 'head');
END;

CREATE TRIGGER search_ticket_comment AFTER INSERT ON ticket_events
WHEN NEW.kind IN ('reply', 'note')
BEGIN
    INSERT INTO search_queue (kind, ref, part)
    VALUES ('ticket', CAST(NEW.ticket_id AS TEXT), CAST(NEW.seq AS TEXT));
END;
