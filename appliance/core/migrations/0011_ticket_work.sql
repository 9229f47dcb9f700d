-- 工时物料费用: time, materials and cost logged on a ticket. Like the history, an entry
-- is never changed or removed; a correction is a new entry (negative amounts allowed).

CREATE TABLE ticket_work (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    seq INTEGER NOT NULL,            -- the history entry that records it
    user_id INTEGER NOT NULL,
    minutes INTEGER NOT NULL,
    materials TEXT NOT NULL DEFAULT '',
    cost_cents INTEGER NOT NULL DEFAULT 0,  -- in fen (0.01 CNY)
    note TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL
);

CREATE INDEX ticket_work_ticket ON ticket_work (ticket_id);

CREATE TRIGGER ticket_work_keep BEFORE UPDATE ON ticket_work
BEGIN
    SELECT RAISE(ABORT, 'the work log is append-only');
END;

CREATE TRIGGER ticket_work_stay BEFORE DELETE ON ticket_work
BEGIN
    SELECT RAISE(ABORT, 'the work log is append-only');
END;
