-- What visitors leave (a message, a call-back request) becomes a ticket.
--
-- `work_items` was the old home of those requests, open or closed and nothing more.
-- The box carries each row into a ticket when it starts (core/tickets.py
-- `carry_over`, in batches, idempotent) and notes the ticket here; the table is no
-- longer written otherwise and stays as the record of what was carried.
ALTER TABLE work_items ADD COLUMN ticket_id INTEGER REFERENCES tickets (id);

CREATE INDEX work_items_uncarried ON work_items (created_at) WHERE ticket_id IS NULL;

-- The visitor who left a ticket, so they can follow it from the widget even when it
-- came from no chat of theirs.
CREATE TABLE ticket_visitors (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    visitor_id TEXT NOT NULL REFERENCES visitors (id),
    PRIMARY KEY (ticket_id, visitor_id)
) WITHOUT ROWID;

CREATE INDEX ticket_visitors_visitor ON ticket_visitors (visitor_id);

-- The "breaching soon" view reads running clocks by deadline.
CREATE INDEX ticket_sla_due ON ticket_sla (due_at) WHERE running_since IS NOT NULL;

-- The "left" view and the channel filter: a channel's tickets by state, without reading
-- every open ticket of the other channels.
CREATE INDEX tickets_channel ON tickets (channel, state);
