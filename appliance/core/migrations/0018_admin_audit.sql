-- The admin audit log (issue 15): who did what on the admin side, from where, when.
--
-- A row is written in the transaction of the action it records (core/audit.py
-- `record`), so the two commit together or not at all. Like `ticket_events`, the
-- database itself refuses to change or remove a row once written (the triggers at the
-- end): not the app, not a helper with SQL, only someone who rewrites the file.
--
-- `user_id` is the console user's id, or NULL for the command line (address 'cli') or
-- the first-boot setup link; `user_name` is their name as it was then. No foreign key:
-- the record outlives whatever it names. `detail` is a small JSON object that never
-- holds passwords, keys, tokens or message bodies (core/audit.py checks its fields).

CREATE TABLE admin_audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,                                                  -- UTC ms
    user_id INTEGER,
    user_name TEXT NOT NULL DEFAULT '' CHECK (length(user_name) <= 64),
    address TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 64),      -- client IP, or 'cli'
    action TEXT NOT NULL CHECK (length(action) BETWEEN 3 AND 40),         -- 'user.role', ...
    target TEXT NOT NULL DEFAULT '' CHECK (length(target) <= 200),
    detail TEXT NOT NULL DEFAULT '{}'
        CHECK (length(detail) <= 2000 AND json_valid(detail) AND json_type(detail) = 'object')
);

CREATE INDEX admin_audit_at ON admin_audit (at);
CREATE INDEX admin_audit_action ON admin_audit (action, at);

-- REPLACE (and INSERT OR REPLACE) deletes the row it collides with without firing
-- delete triggers (SQLite runs them for REPLACE only with recursive_triggers on), so
-- an insert that names an existing id is refused before it gets that far.
CREATE TRIGGER admin_audit_new BEFORE INSERT ON admin_audit
WHEN EXISTS (SELECT 1 FROM admin_audit WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'the admin audit log is append-only');
END;

CREATE TRIGGER admin_audit_keep BEFORE UPDATE ON admin_audit
BEGIN
    SELECT RAISE(ABORT, 'the admin audit log is append-only');
END;

CREATE TRIGGER admin_audit_stay BEFORE DELETE ON admin_audit
BEGIN
    SELECT RAISE(ABORT, 'the admin audit log is append-only');
END;
