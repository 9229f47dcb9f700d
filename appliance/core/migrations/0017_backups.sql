-- Encrypted backups (core/backup.py): one row of settings and a bounded history of runs.
--
-- Only the age recipient (the public half of the key) is stored: the identity that
-- decrypts an archive is shown once, as the emergency kit, and never kept on the box.
-- A WebDAV password is stored sealed (AES-GCM under a key derived from the box's
-- secret.key, which the database does not hold): a copy of the database alone does not
-- give it away, and the API never answers it.

CREATE TABLE backup_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    recipient TEXT NOT NULL DEFAULT '',          -- age X25519 recipient, 'age1…'; '' = no key
    key_created_at INTEGER,                      -- UTC ms the key was made
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    daily_at TEXT NOT NULL DEFAULT '03:30' CHECK (daily_at GLOB '[0-2][0-9]:[0-5][0-9]'),
    keep_daily INTEGER NOT NULL DEFAULT 7 CHECK (keep_daily BETWEEN 1 AND 366),
    keep_weekly INTEGER NOT NULL DEFAULT 4 CHECK (keep_weekly BETWEEN 0 AND 520),
    local_dir TEXT NOT NULL DEFAULT '' CHECK (length(local_dir) <= 1024),  -- '' = <data>/backups
    webdav_url TEXT NOT NULL DEFAULT '' CHECK (length(webdav_url) <= 2048),
    webdav_user TEXT NOT NULL DEFAULT '' CHECK (length(webdav_user) <= 256),
    webdav_sealed BLOB,                          -- the password, sealed; NULL = none
    updated_at INTEGER NOT NULL DEFAULT 0
);

INSERT INTO backup_settings (id) VALUES (1);

-- Bounded: the newest 200 runs are kept (core/store/backups.py trims on insert).
CREATE TABLE backup_runs (
    id INTEGER PRIMARY KEY,
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    started_at INTEGER NOT NULL,
    finished_at INTEGER,                         -- NULL while it runs (or if the box stopped)
    ok INTEGER CHECK (ok IN (0, 1)),
    archive TEXT NOT NULL DEFAULT '',            -- the archive's file name
    size INTEGER NOT NULL DEFAULT 0,             -- bytes of the encrypted archive
    error TEXT NOT NULL DEFAULT '' CHECK (length(error) <= 2000),
    targets TEXT NOT NULL DEFAULT '[]' CHECK (length(targets) <= 4000)  -- JSON, per target
);

CREATE INDEX backup_runs_started ON backup_runs (started_at);
