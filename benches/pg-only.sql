-- One scan in the Postgres-only design (pgbench script; schema in pg-only-schema.sql):
-- redeem the code once, take one from stock, record the award, in one transaction.
\set serial random(0, 999999)
\set member random(0, 49999)
BEGIN;
UPDATE pg_only_codes SET redeemed_by = 'm' || :member WHERE serial = :serial AND redeemed_by IS NULL;
UPDATE pg_only_stock SET remaining = remaining - 1 WHERE prize = 'cup' AND remaining > 0;
INSERT INTO pg_only_awards (serial, member, prize) VALUES (:serial, 'm' || :member, 'cup');
END;
