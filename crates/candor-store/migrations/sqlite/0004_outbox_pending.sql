-- The outbox indexes only what is looked up (SQLite). Delivery looks for pending
-- webhooks, so only those are indexed (a delivered one leaves the index); DSAR fan-outs
-- are looked up by their request, so webhooks without one are not indexed by it. Under
-- sustained consent writes, each webhook then costs fewer index pages to write.
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (next_attempt_at, created_at) WHERE delivered_at IS NULL;
DROP INDEX outbox_dsar;
CREATE INDEX outbox_dsar ON outbox (dsar_id) WHERE dsar_id IS NOT NULL;
