-- Reports (core/reports.py, store/reports.py; docs/reports.md).
--
-- report_events: what happened, written by triggers in the same transaction as the
-- row it records, so no code path can change a chat, a ticket, a rating or a presence
-- and forget to count it. Each row carries the dimensions a report cuts by (agent,
-- group, topic, channel, site) as they were at that moment, and `at`, the time that
-- decides its day: a chat's figures all belong to the day the chat was offered (a chat
-- across midnight counts on the day it began), a ticket's and a presence's to when
-- they happened. `value` is a duration in ms, a score, or a backlog step.
--
-- report_rollups: sums per local day, ISO week and month of the box's zone, kept up to
-- date by a pass over the events after `report_state.cursor` (off the chat's write);
-- `appliance reports-backfill` rebuilds them from the events alone.

CREATE TABLE report_events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    agent_id INTEGER,
    group_id INTEGER,
    topic TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    site TEXT NOT NULL DEFAULT '',
    ref TEXT NOT NULL DEFAULT '',      -- the conversation's or the ticket's id
    value INTEGER,
    detail TEXT NOT NULL DEFAULT ''    -- an SLA target's metric, a presence's status
);

CREATE INDEX report_events_ref ON report_events (ref, kind);
CREATE INDEX report_events_kind ON report_events (kind, at);
CREATE INDEX report_events_agent ON report_events (agent_id, kind, id) WHERE agent_id IS NOT NULL;

CREATE TABLE report_rollups (
    period TEXT NOT NULL CHECK (period IN ('d', 'w', 'm')),
    bucket TEXT NOT NULL,              -- 2026-12-06, 2026-W49, 2026-12
    dim TEXT NOT NULL CHECK (dim IN ('all', 'agent', 'group', 'topic', 'channel', 'site')),
    key TEXT NOT NULL,
    metric TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (period, dim, bucket, key, metric)
) WITHOUT ROWID;

-- The backlog is a running sum: a report adds up the days before its start.
CREATE INDEX report_rollups_backlog ON report_rollups (dim, bucket)
    WHERE period = 'd' AND metric = 'backlog';

CREATE TABLE report_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor INTEGER NOT NULL DEFAULT 0, -- the last event folded into the rollups
    zone TEXT NOT NULL DEFAULT '',     -- the zone the rollups' days are in
    rolled_at INTEGER NOT NULL DEFAULT 0
);

INSERT INTO report_state (id) VALUES (1);

-- What the box already holds when it upgrades, recorded once as it stands now: chats
-- with their queue wait, first answer and end (under their current owner, the one
-- known), missed rings, completed transfers, ratings, tickets with their creation,
-- first resolution and backlog step, and fulfilled SLA clocks. Presence has no past.
-- (Scans messages and ticket history once; the triggers below take over from here.)
CREATE TEMP VIEW report_seed_chats AS
    SELECT c.*, coalesce((SELECT site FROM visits v WHERE v.visitor_id = c.visitor_id
                          ORDER BY v.started_at DESC LIMIT 1), '') AS seed_site
    FROM conversations c;

INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref, value)
SELECT at, kind, agent_id, group_id, topic, 'chat', seed_site, id, value FROM (
    SELECT created_at AS at, 'chat_offered' AS kind, NULL AS agent_id, group_id, topic,
        seed_site, id, NULL AS value, 1 AS o
    FROM report_seed_chats
    UNION ALL
    SELECT created_at, 'chat_first_assigned', agent_id, group_id, topic, seed_site, id,
        first_assigned_at - created_at, 2
    FROM report_seed_chats WHERE first_assigned_at IS NOT NULL
    UNION ALL
    SELECT created_at, 'chat_answered', agent_id, group_id, topic, seed_site, id,
        answered_at - created_at, 3
    FROM report_seed_chats WHERE answered_at IS NOT NULL
    UNION ALL
    SELECT c.created_at, 'chat_missed', m.user_id, c.group_id, c.topic, c.seed_site, c.id,
        NULL, 4
    FROM missed_chats m JOIN report_seed_chats c ON c.id = m.conversation_id
    UNION ALL
    SELECT c.created_at, 'chat_transfer', c.agent_id, c.group_id, c.topic, c.seed_site, c.id,
        NULL, 5
    FROM messages g JOIN report_seed_chats c ON c.id = g.conversation_id
    WHERE g.event = 'transferred'
    UNION ALL
    SELECT created_at,
        CASE WHEN answered_at IS NOT NULL THEN 'chat_handled' ELSE 'chat_abandoned' END,
        CASE WHEN answered_at IS NOT NULL THEN agent_id END, group_id, topic, seed_site, id,
        CASE WHEN answered_at IS NOT NULL
             THEN coalesce(closed_at, 0) - coalesce(first_assigned_at, created_at)
             ELSE coalesce(closed_at, 0) - created_at END, 6
    FROM report_seed_chats WHERE status = 'closed'
    UNION ALL
    SELECT c.created_at, 'rating', c.agent_id, c.group_id, c.topic, c.seed_site, c.id,
        r.score, 7
    FROM chat_ratings r JOIN report_seed_chats c ON c.id = r.conversation_id
) ORDER BY at, o;

DROP VIEW report_seed_chats;

INSERT INTO report_events (at, kind, agent_id, group_id, channel, ref, value, detail)
SELECT at, kind, owner_id, group_id, channel, CAST(id AS TEXT), value, detail FROM (
    SELECT created_at AS at, 'ticket_created' AS kind, owner_id, group_id, channel, id,
        1 AS value, '' AS detail, 1 AS o
    FROM tickets
    UNION ALL
    SELECT resolved_at, 'ticket_resolved', owner_id, group_id, channel, id,
        resolved_at - created_at, CASE WHEN replies <= 1 THEN 'fcr' ELSE 'first' END, 2
    FROM tickets WHERE resolved_at IS NOT NULL
    UNION ALL
    SELECT state_at, 'ticket_backlog', owner_id, group_id, channel, id, -1, '', 3
    FROM tickets WHERE state NOT IN ('new', 'open', 'pending')
    UNION ALL
    SELECT e.at,
        CASE WHEN json_extract(e.data, '$.late') THEN 'sla_late' ELSE 'sla_met' END,
        t.owner_id, t.group_id, t.channel, t.id, NULL,
        coalesce(json_extract(e.data, '$.metric'), ''), 4
    FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
    WHERE e.kind = 'sla' AND json_extract(e.data, '$.change') = 'fulfilled'
) ORDER BY at, o;

-- Chats: offered when created.
CREATE TRIGGER report_chat_offered AFTER INSERT ON conversations
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref)
    VALUES (NEW.created_at, 'chat_offered', NULL, NEW.group_id, NEW.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = NEW.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        NEW.id);
END;

-- Rung on an agent (each assignment, a transfer's too); the first one ends the queue wait.
CREATE TRIGGER report_chat_assigned AFTER UPDATE OF agent_id ON conversations
WHEN NEW.agent_id IS NOT NULL AND OLD.agent_id IS NOT NEW.agent_id
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref, value)
    SELECT NEW.created_at,
        CASE WHEN OLD.first_assigned_at IS NULL THEN 'chat_first_assigned'
             ELSE 'chat_assigned' END,
        NEW.agent_id, NEW.group_id, NEW.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = NEW.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        NEW.id,
        CASE WHEN OLD.first_assigned_at IS NULL
             THEN coalesce(NEW.first_assigned_at, NEW.assigned_at) - NEW.created_at END;
END;

-- The owner's first answer; an assignment that clears answered_at and sets it again
-- (a transfer) does not answer the chat twice.
CREATE TRIGGER report_chat_answered AFTER UPDATE OF answered_at ON conversations
WHEN NEW.answered_at IS NOT NULL AND OLD.answered_at IS NOT NEW.answered_at
    AND NOT EXISTS (SELECT 1 FROM report_events
                    WHERE ref = NEW.id AND kind = 'chat_answered')
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref, value)
    VALUES (NEW.created_at, 'chat_answered', NEW.agent_id, NEW.group_id, NEW.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = NEW.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        NEW.id, NEW.answered_at - NEW.created_at);
END;

-- Closed: handled if it was ever answered, else abandoned (value: the wait until then).
CREATE TRIGGER report_chat_closed AFTER UPDATE OF status ON conversations
WHEN NEW.status = 'closed' AND OLD.status != 'closed'
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref, value)
    SELECT NEW.created_at,
        CASE WHEN answered THEN 'chat_handled' ELSE 'chat_abandoned' END,
        CASE WHEN answered THEN NEW.agent_id END,
        NEW.group_id, NEW.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = NEW.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        NEW.id,
        CASE WHEN answered
             THEN coalesce(NEW.closed_at, 0) - coalesce(NEW.first_assigned_at, NEW.created_at)
             ELSE coalesce(NEW.closed_at, 0) - NEW.created_at END
    FROM (SELECT EXISTS (SELECT 1 FROM report_events
                         WHERE ref = NEW.id AND kind = 'chat_answered') AS answered);
END;

-- Rang out on an agent who did not take it.
CREATE TRIGGER report_chat_missed AFTER INSERT ON missed_chats
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref)
    SELECT c.created_at, 'chat_missed', NEW.user_id, c.group_id, c.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = c.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        c.id
    FROM conversations c WHERE c.id = NEW.conversation_id;
END;

-- A transfer done (to a colleague or through a group's queue): its system message.
CREATE TRIGGER report_chat_transfer AFTER INSERT ON messages
WHEN NEW.event = 'transferred'
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref)
    SELECT c.created_at, 'chat_transfer', c.agent_id, c.group_id, c.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = c.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        c.id
    FROM conversations c WHERE c.id = NEW.conversation_id;
END;

-- Ratings: a changed score takes the old one back first.
CREATE TRIGGER report_rating_new AFTER INSERT ON chat_ratings
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref, value)
    SELECT c.created_at, 'rating', c.agent_id, c.group_id, c.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = c.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        c.id, NEW.score
    FROM conversations c WHERE c.id = NEW.conversation_id;
END;

CREATE TRIGGER report_rating_changed AFTER UPDATE OF score ON chat_ratings
WHEN OLD.score != NEW.score
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, topic, channel, site, ref, value)
    SELECT c.created_at, k.kind, c.agent_id, c.group_id, c.topic, 'chat',
        coalesce((SELECT site FROM visits WHERE visitor_id = c.visitor_id
                  ORDER BY started_at DESC LIMIT 1), ''),
        c.id, k.score
    FROM conversations c,
        (SELECT 'rating_withdrawn' AS kind, OLD.score AS score, 1 AS o
         UNION ALL SELECT 'rating', NEW.score, 2) k
    WHERE c.id = NEW.conversation_id ORDER BY k.o;
END;

-- Tickets: created; then each change of state. Open = new, open or pending.
CREATE TRIGGER report_ticket_created AFTER INSERT ON tickets
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, channel, ref, value)
    VALUES (NEW.created_at, 'ticket_created', NEW.owner_id, NEW.group_id, NEW.channel,
        CAST(NEW.id AS TEXT), CASE WHEN NEW.state IN ('new', 'open', 'pending') THEN 1 ELSE 0 END);
END;

CREATE TRIGGER report_ticket_state AFTER UPDATE OF state ON tickets
WHEN OLD.state != NEW.state
BEGIN
    -- Resolved: detail 'first' on its first resolution, 'fcr' when that came with at
    -- most one public reply (resolved at first contact).
    INSERT INTO report_events (at, kind, agent_id, group_id, channel, ref, value, detail)
    SELECT NEW.state_at, 'ticket_resolved', NEW.owner_id, NEW.group_id, NEW.channel,
        CAST(NEW.id AS TEXT), NEW.state_at - NEW.created_at,
        CASE WHEN EXISTS (SELECT 1 FROM report_events
                          WHERE ref = CAST(NEW.id AS TEXT) AND kind = 'ticket_resolved') THEN ''
             WHEN NEW.replies <= 1 THEN 'fcr' ELSE 'first' END
    WHERE NEW.state = 'resolved';
    INSERT INTO report_events (at, kind, agent_id, group_id, channel, ref)
    SELECT NEW.state_at, 'ticket_reopened', NEW.owner_id, NEW.group_id, NEW.channel,
        CAST(NEW.id AS TEXT)
    WHERE OLD.state IN ('resolved', 'closed') AND NEW.state IN ('new', 'open', 'pending');
    -- The backlog's step: +1 into the open states, -1 out of them.
    INSERT INTO report_events (at, kind, agent_id, group_id, channel, ref, value)
    SELECT NEW.state_at, 'ticket_backlog', NEW.owner_id, NEW.group_id, NEW.channel,
        CAST(NEW.id AS TEXT),
        (NEW.state IN ('new', 'open', 'pending')) - (OLD.state IN ('new', 'open', 'pending'))
    WHERE (NEW.state IN ('new', 'open', 'pending')) != (OLD.state IN ('new', 'open', 'pending'));
END;

-- SLA: a target's clock fulfilled, on time or late (its ticket history's 'sla' entry).
CREATE TRIGGER report_sla AFTER INSERT ON ticket_events
WHEN NEW.kind = 'sla' AND json_extract(NEW.data, '$.change') = 'fulfilled'
BEGIN
    INSERT INTO report_events (at, kind, agent_id, group_id, channel, ref, detail)
    SELECT NEW.at,
        CASE WHEN json_extract(NEW.data, '$.late') THEN 'sla_late' ELSE 'sla_met' END,
        t.owner_id, t.group_id, t.channel, CAST(t.id AS TEXT),
        coalesce(json_extract(NEW.data, '$.metric'), '')
    FROM tickets t WHERE t.id = NEW.ticket_id;
END;

-- Presence: the status an agent enters, and when (the users row keeps no time: the
-- database's clock, in ms).
CREATE TRIGGER report_presence AFTER UPDATE OF status ON users
WHEN OLD.status != NEW.status
BEGIN
    INSERT INTO report_events (at, kind, agent_id, detail)
    VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 'presence', NEW.id,
        NEW.status);
END;
