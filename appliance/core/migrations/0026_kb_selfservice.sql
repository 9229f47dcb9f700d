-- Self-service before a chat (core/selfservice.py): what visitors did in the knowledge
-- base, the pages each article is suggested on; and the pictures in articles
-- (core/article_images.py). docs/knowledge-base.md defines the deflection figure.

-- One row per search, article read or vote of a visitor through the widget. A visitor
-- who did one of these and started no chat within the deflection window (10 minutes
-- by default) counts as deflected; the chats are read from `conversations`.
CREATE TABLE kb_visitor_events (
    id INTEGER PRIMARY KEY,
    visitor_id TEXT NOT NULL,   -- no foreign key: the figure outlives a forgotten visitor
    kind TEXT NOT NULL CHECK (kind IN ('search', 'read', 'vote')),
    article_id INTEGER,         -- read and vote; NULL for a search
    at INTEGER NOT NULL         -- ms since the epoch
);

CREATE INDEX kb_visitor_events_at ON kb_visitor_events (at);
CREATE INDEX kb_visitor_events_visitor ON kb_visitor_events (visitor_id, at);

-- Where an article is suggested before a chat: path prefixes of the company's site
-- ('/' matches every page). Only public, published articles are ever suggested.
CREATE TABLE kb_article_pages (
    article_id INTEGER NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    prefix TEXT NOT NULL,
    PRIMARY KEY (article_id, prefix)
) WITHOUT ROWID;

CREATE INDEX kb_article_pages_prefix ON kb_article_pages (prefix);

-- Pictures staff uploaded for articles, stored re-encoded in the data folder as
-- kb-images/<name> (so backups carry them); the name is the content's hash.
CREATE TABLE kb_images (
    name TEXT PRIMARY KEY,      -- '<16 hex digits>.png|jpg|webp'
    media_type TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    uploaded_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    uploaded_at INTEGER NOT NULL
) WITHOUT ROWID;
