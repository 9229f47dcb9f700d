-- The service desk's append-only tables refused UPDATE and DELETE, but REPLACE INTO (and
-- INSERT OR REPLACE) removes the row it collides with without firing delete triggers
-- (SQLite runs them for REPLACE only with recursive_triggers on), so a history entry
-- could be rewritten in place. An insert that names an existing entry is refused before
-- it gets that far (as admin_audit does, migration 0018). One primary-key lookup per
-- insert.
CREATE TRIGGER ticket_events_new BEFORE INSERT ON ticket_events
WHEN EXISTS (SELECT 1 FROM ticket_events WHERE ticket_id = NEW.ticket_id AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'ticket history is append-only');
END;

CREATE TRIGGER ticket_work_new BEFORE INSERT ON ticket_work
WHEN EXISTS (SELECT 1 FROM ticket_work WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'the work log is append-only');
END;
