-- The answer a redemption got (`status prize points_awarded points level`, as the
-- gateway stores it in Redis): once settled, Redis lets its copy go after
-- `redis.answer_grace_seconds`, and a retry is answered from here with the same bytes.
-- NULL for scans settled before (their retries answer `already_redeemed`).
-- A nullable column without a default: added without rewriting the table.
ALTER TABLE scans ADD COLUMN answer text;
