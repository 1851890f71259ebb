-- Status counts for /readyz and /metrics read a partial index of their status only (pending
-- and delivering have theirs in 0001): the outbox is never pruned, and counting it whole on
-- every scrape grew with every delivery ever made.
CREATE INDEX webhook_deliveries_parked ON webhook_deliveries (subscription_id)
    WHERE status = 'parked';
