-- Two-factor login (TOTP), recovery codes, the roles that must use it, and what the
-- admin's user management needs of a user: a temporary password and the last login.

-- One row per user who has started or finished enrolling. `secret` is set only once
-- the user has proved, with a code, that their authenticator app holds it; until then
-- the new secret waits in `pending_secret`. `last_step` is the newest 30-second step
-- whose code was accepted: a code of that step or an older one is refused, so a code
-- seen over a shoulder cannot be used a second time.
CREATE TABLE user_totp (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT,
    pending_secret TEXT,
    last_step INTEGER NOT NULL DEFAULT 0,
    enabled_at INTEGER
);

-- Ten single-use codes for a lost phone, shown once and kept only as argon2 hashes.
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER
);

CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- The roles whose users must log in with a code (they enrol at their next login).
CREATE TABLE two_factor_roles (
    role TEXT PRIMARY KEY CHECK (role IN ('admin', 'supervisor', 'agent'))
) WITHOUT ROWID;

-- Set when an admin resets the password: the user chooses a new one at their next
-- login, before the console opens.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_login_at INTEGER;
