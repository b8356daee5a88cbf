-- The Postgres-only design benches/load.sh compares yima against: no Redis, every scan a
-- transaction that redeems the code, takes one from the prize's stock and records the
-- award, each under its row lock. 1,000,000 codes and one prize row, as in the bench
-- campaign.
DROP TABLE IF EXISTS pg_only_codes, pg_only_stock, pg_only_awards;
CREATE TABLE pg_only_codes (serial integer PRIMARY KEY, redeemed_by text);
INSERT INTO pg_only_codes (serial) SELECT generate_series(0, 999999);
CREATE TABLE pg_only_stock (prize text PRIMARY KEY, remaining integer NOT NULL CHECK (remaining >= 0));
INSERT INTO pg_only_stock VALUES ('cup', 1000000);
CREATE TABLE pg_only_awards (
    id bigserial PRIMARY KEY,
    serial integer NOT NULL,
    member text NOT NULL,
    prize text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
VACUUM ANALYZE pg_only_codes, pg_only_stock;
