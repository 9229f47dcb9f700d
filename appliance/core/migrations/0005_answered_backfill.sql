-- 0003 added conversations.answered_at without filling it in. On the first routing
-- pass after an upgrade from 0001 or 0002, an active chat its agent had been
-- answering counted as unanswered: it rang out, was requeued as a missed chat and the
-- agent was set away (found by tests/unit/test_migration_upgrades.py). A chat was
-- answered when its owner first wrote in it; one they never wrote in stays unanswered.
UPDATE conversations SET answered_at = (
    SELECT min(m.created_at) FROM messages m
    WHERE m.conversation_id = conversations.id
      AND m.sender_type = 'agent'
      AND m.sender_id = CAST(conversations.agent_id AS TEXT)
)
WHERE answered_at IS NULL AND agent_id IS NOT NULL;
