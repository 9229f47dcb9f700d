-- Knowledge-base tools (docs/knowledge-base.md, "Suggestions, import and export").

-- The published articles' terms again, alone (rowid = search_docs.id): suggestions
-- beside a chat match a visitor's whole sentences against articles only, so bm25
-- weighs each word by how many articles hold it, not how many chats
-- (core/kb_suggest.py). Written with search_fts by store/search.py; a box upgraded
-- to it fills it from search_docs once, at start.
CREATE VIRTUAL TABLE search_kb_fts USING fts5 (
    title, body, content = '', tokenize = 'unicode61 remove_diacritics 2'
);

-- How many articles hold each term: a suggestion searches for the visitor's words
-- that the fewest articles hold (their doclists are short, so it stays fast with
-- 100,000 articles). A read-only view of search_kb_fts.
CREATE VIRTUAL TABLE search_kb_vocab USING fts5vocab (search_kb_fts, 'row');

-- Articles that came from an imported zip: the file they came from, so importing the
-- same zip again changes nothing, and a changed file becomes a new version of the
-- article it made (core/kb_transfer.py).
CREATE TABLE kb_imports (
    source TEXT PRIMARY KEY CHECK (length(source) <= 512),  -- the file's path in the zip
    article_id INTEGER NOT NULL REFERENCES kb_articles (id),
    digest TEXT NOT NULL,                 -- sha256 of what the file said, as imported
    imported_at INTEGER NOT NULL,
    imported_by INTEGER NOT NULL REFERENCES users (id)
) WITHOUT ROWID;
