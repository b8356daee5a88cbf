-- Draw secrets are stored sealed under a draw key that only gateways and tools hold
-- (1 format byte, 1 key id, 12 nonce, 32 ciphertext, 16 tag). Secrets stored before
-- are 32 plain bytes; `yima migrate` seals exactly those listed here, right after this
-- migration, so a plain secret written into the table later is never sealed (gateways
-- refuse it: nobody can plant a secret of their choosing).
ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_draw_secret_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_draw_secret_check
    CHECK (octet_length(draw_secret) IN (32, 62));
CREATE TABLE plain_draw_secrets (
    campaign_id text PRIMARY KEY REFERENCES campaigns (id)
);
INSERT INTO plain_draw_secrets (campaign_id)
    SELECT id FROM campaigns WHERE octet_length(draw_secret) = 32;
