-- Visitor insight and proactive chat: visits, page views, customers, invitations,
-- automatic invitation rules, sites (for signed identities), box settings, IP table.

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    external_id TEXT UNIQUE,          -- the host site's customer id, when signed
    site TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL DEFAULT 'new' CHECK (tier IN ('vip', 'member', 'new')),
    notes TEXT NOT NULL DEFAULT '',
    verified INTEGER NOT NULL DEFAULT 0,  -- 1: identified by a signature, not typed in
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX customers_email ON customers (email) WHERE email != '';
CREATE INDEX customers_phone ON customers (phone) WHERE phone != '';

ALTER TABLE visitors ADD COLUMN customer_id INTEGER REFERENCES customers (id);
ALTER TABLE visitors ADD COLUMN visits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visitors ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE visitors ADD COLUMN device TEXT NOT NULL DEFAULT '{}';

CREATE INDEX visitors_customer ON visitors (customer_id) WHERE customer_id IS NOT NULL;

-- Signatures already used, so a copied one cannot identify a second visitor.
CREATE TABLE identity_proofs (
    sig TEXT PRIMARY KEY,
    visitor_id TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE visits (
    id INTEGER PRIMARY KEY,
    visitor_id TEXT NOT NULL REFERENCES visitors (id),
    site TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    province TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    region_status TEXT NOT NULL DEFAULT 'unknown',
    source_kind TEXT NOT NULL DEFAULT 'direct',
    engine TEXT NOT NULL DEFAULT '',
    keyword TEXT NOT NULL DEFAULT '',
    referrer TEXT NOT NULL DEFAULT '',
    referrer_host TEXT NOT NULL DEFAULT '',
    utm TEXT NOT NULL DEFAULT '{}',
    landing_url TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '{}',
    pages INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX visits_visitor ON visits (visitor_id, started_at);
CREATE INDEX visits_started ON visits (started_at);

CREATE TABLE page_views (
    id INTEGER PRIMARY KEY,
    visit_id INTEGER NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    visitor_id TEXT NOT NULL,
    url TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    dwell_ms INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX page_views_visit ON page_views (visit_id, started_at);
CREATE INDEX page_views_started ON page_views (started_at);

CREATE TABLE invite_rules (
    id INTEGER PRIMARY KEY,
    position INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    url_pattern TEXT NOT NULL DEFAULT '',
    min_seconds INTEGER NOT NULL DEFAULT 0,
    min_visits INTEGER NOT NULL DEFAULT 0,
    audience TEXT NOT NULL DEFAULT 'any' CHECK (audience IN ('any', 'new', 'returning')),
    source TEXT NOT NULL DEFAULT 'any'
        CHECK (source IN ('any', 'search', 'campaign', 'referral', 'direct')),
    message TEXT NOT NULL,
    group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL
);

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    visitor_id TEXT NOT NULL REFERENCES visitors (id),
    visit_id INTEGER,
    agent_id INTEGER REFERENCES users (id),
    rule_id INTEGER REFERENCES invite_rules (id) ON DELETE SET NULL,
    group_id INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'accepted', 'declined', 'expired')),
    created_at INTEGER NOT NULL,
    answered_at INTEGER,
    conversation_id TEXT REFERENCES conversations (id)
);

CREATE INDEX invitations_visitor ON invitations (visitor_id, created_at);
CREATE INDEX invitations_pending ON invitations (status) WHERE status = 'pending';

-- Websites that embed the widget; the secret signs customer identities.
CREATE TABLE sites (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO sites (key, name, secret, created_at)
VALUES ('default', '', lower(hex(randomblob(32))), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

CREATE TABLE box_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Administrator-imported IP ranges (ip2region / IP2Location LITE). Addresses are
-- 16-byte big-endian blobs, IPv4 mapped into ::ffff:0:0/96, so one order serves both.
CREATE TABLE ip_ranges (
    start BLOB PRIMARY KEY,
    end BLOB NOT NULL,
    country TEXT NOT NULL DEFAULT '',
    province TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    isp TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
