-- The management line of a group, for escalation: agent -> expert -> group lead ->
-- manager. Either may be unset; a user who is removed from the box is unset here.

ALTER TABLE groups ADD COLUMN lead_id INTEGER REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE groups ADD COLUMN manager_id INTEGER REFERENCES users (id) ON DELETE SET NULL;
