-- More report figures (core/report_rollup.py; docs/reports.md): how many chats an
-- agent held at once, knowledge-base deflection; and an index for the backlog before
-- a report's span read from month rollups. Events go into report_events (migration
-- 0029) as things happen, in the transaction of the row they record.
--
-- chat_held: a chat an agent held, `at` when it was given to them (assigned_at),
--   `value` how long until it left them (closed, given to someone else, rang out).
-- chat_load: a chat given to an agent, `value` the chats they held at that moment
--   with it (not closed); the peak figure is the highest of these.
-- kb_session: a visitor's search, read or vote in the knowledge base with none of
--   theirs in the 10 minutes before (a self-service session), `ref` the visitor.
-- kb_chatted: that visitor started a chat within 10 minutes of the session's start;
--   `at` is the session's, so it counts on the session's day.

CREATE INDEX report_rollups_backlog_m ON report_rollups (dim, bucket)
    WHERE period = 'm' AND metric = 'backlog';

CREATE INDEX report_events_kb ON report_events (ref, at) WHERE kind = 'kb_session';

-- What the box already holds: closed chats held by their last owner (earlier owners
-- of a transferred chat are not known), and self-service sessions with their chats.
INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, ref, value)
SELECT assigned_at, 'chat_held', agent_id, group_id, topic, 'chat', id,
    max(0, closed_at - assigned_at)
FROM conversations
WHERE status = 'closed' AND agent_id IS NOT NULL AND assigned_at IS NOT NULL
    AND closed_at IS NOT NULL
ORDER BY assigned_at;

INSERT INTO report_events (at, kind, channel, site, ref)
SELECT e.at, 'kb_session', 'kb',
    coalesce((SELECT site FROM visits v WHERE v.visitor_id = e.visitor_id
              ORDER BY v.started_at DESC LIMIT 1), ''),
    e.visitor_id
FROM kb_visitor_events e
WHERE NOT EXISTS (SELECT 1 FROM kb_visitor_events p WHERE p.visitor_id = e.visitor_id
                  AND p.at > e.at - 600000 AND (p.at < e.at OR (p.at = e.at AND p.id < e.id)))
ORDER BY e.at, e.id;

INSERT INTO report_events (at, kind, channel, site, ref)
SELECT s.at, 'kb_chatted', 'kb', s.site, s.ref
FROM report_events s
WHERE s.kind = 'kb_session' AND EXISTS (
    SELECT 1 FROM conversations c WHERE c.visitor_id = s.ref
    AND c.created_at >= s.at AND c.created_at < s.at + 600000)
ORDER BY s.at;

-- A chat leaves its agent: given to another, or rang out (agent_id cleared; the
-- missed_chats row written just before has the time).
CREATE TRIGGER report_chat_held_moved AFTER UPDATE OF agent_id ON conversations
WHEN OLD.agent_id IS NOT NULL AND OLD.agent_id IS NOT NEW.agent_id
    AND OLD.assigned_at IS NOT NULL AND OLD.status != 'closed'
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, ref, value)
    VALUES (OLD.assigned_at, 'chat_held', OLD.agent_id, OLD.group_id, OLD.topic, 'chat', NEW.id,
        max(0, coalesce(NEW.assigned_at,
                        (SELECT at FROM missed_chats
                         WHERE user_id = OLD.agent_id AND conversation_id = NEW.id
                         ORDER BY at DESC LIMIT 1),
                        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
               - OLD.assigned_at));
END;

-- A chat closes in its agent's hands.
CREATE TRIGGER report_chat_held_closed AFTER UPDATE OF status ON conversations
WHEN NEW.status = 'closed' AND OLD.status != 'closed' AND NEW.agent_id IS NOT NULL
    AND NEW.assigned_at IS NOT NULL
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, ref, value)
    VALUES (NEW.assigned_at, 'chat_held', NEW.agent_id, NEW.group_id, NEW.topic, 'chat', NEW.id,
        max(0, coalesce(NEW.closed_at,
                        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
               - NEW.assigned_at));
END;

-- A chat given to an agent: how many they hold now, this one included.
CREATE TRIGGER report_chat_load AFTER UPDATE OF agent_id ON conversations
WHEN NEW.agent_id IS NOT NULL AND OLD.agent_id IS NOT NEW.agent_id
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, ref, value)
    VALUES (coalesce(NEW.assigned_at,
                     CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
        'chat_load', NEW.agent_id, NEW.group_id, NEW.topic, 'chat', NEW.id,
        (SELECT count(*) FROM conversations
         WHERE agent_id = NEW.agent_id AND status IN ('waiting', 'active')));
END;

-- Self-service: a session starts with a search, read or vote after 10 quiet minutes.
CREATE TRIGGER report_kb_session AFTER INSERT ON kb_visitor_events
WHEN NOT EXISTS (SELECT 1 FROM kb_visitor_events p WHERE p.visitor_id = NEW.visitor_id
                 AND p.id != NEW.id AND p.at > NEW.at - 600000 AND p.at <= NEW.at)
BEGIN
    INSERT INTO report_events (at, kind, channel, site, ref)
    VALUES (NEW.at, 'kb_session', 'kb',
        coalesce((SELECT site FROM visits WHERE visitor_id = NEW.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        NEW.visitor_id);
END;

-- ... and a chat the visitor starts within 10 minutes of its start undoes it (once).
CREATE TRIGGER report_kb_chatted AFTER INSERT ON conversations
BEGIN
    INSERT INTO report_events (at, kind, channel, site, ref)
    SELECT s.at, 'kb_chatted', 'kb', s.site, s.ref
    FROM (SELECT at, site, ref FROM report_events
          WHERE kind = 'kb_session' AND ref = NEW.visitor_id
          AND at > NEW.created_at - 600000 AND at <= NEW.created_at
          ORDER BY at DESC LIMIT 1) s
    WHERE NOT EXISTS (SELECT 1 FROM report_events
                      WHERE kind = 'kb_chatted' AND ref = s.ref AND at = s.at);
END;
