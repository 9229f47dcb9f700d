-- 调度员: a console user who may assign tickets to others (and sees every ticket to
-- do so), without a supervisor's other powers. A capability of the user, not a role
-- of its own, so an agent or a supervisor can be one.

ALTER TABLE users ADD COLUMN dispatcher INTEGER NOT NULL DEFAULT 0;
