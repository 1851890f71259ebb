-- Secret rotation with an overlap: after a rotation the previous secret (sealed like the
-- current one, the subscription id as associated data) keeps signing beside the new one
-- until previous_secret_expires_at; deliveries then carry both signatures (Standard Webhooks:
-- space-separated in webhook-signature).
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_key_id TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_sealed TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE webhook_subscriptions ADD COLUMN secret_rotated_at BIGINT;

-- Creation with an Idempotency-Key: the key is the caller's (region and subject), with the
-- SHA-256 of the request it was first used for. A retry finds the subscription; its secret is
-- never shown again (the caller rotates it to get a new one).
ALTER TABLE webhook_subscriptions ADD COLUMN idempotency_key TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN idempotency_fingerprint TEXT;
CREATE UNIQUE INDEX webhook_subscriptions_idempotency
    ON webhook_subscriptions (region, created_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
