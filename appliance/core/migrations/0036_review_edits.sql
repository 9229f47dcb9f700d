-- Corrected quality reviews (core/quality.py; docs/reports.md "Quality review").
--
-- A supervisor may correct a review's scores and comment, or delete it (both audited,
-- `qa_review.update|delete`). The review keeps when it was last corrected and by whom,
-- so the page can say so; its `created_at` stays, since which review of a chat counts
-- (the one saved last, the highest id) does not change when an older one is corrected.

ALTER TABLE qa_reviews ADD COLUMN edited_at INTEGER;
ALTER TABLE qa_reviews ADD COLUMN editor_name TEXT NOT NULL DEFAULT '';

-- The period's mean per agent reads only the review saved last of each chat: the
-- period index also carries the chat, so the read stays on indexes (the latest review
-- is a seek on qa_reviews_conversation, which holds the id).
DROP INDEX qa_reviews_period;
CREATE INDEX qa_reviews_period ON qa_reviews (chat_at, agent_id, score, conversation_id);
