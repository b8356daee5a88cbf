-- A national campaign settles hundreds of millions of scans; `scans` is split by
-- campaign month so old months can be archived (`yima archive`) and the month being
-- written keeps small, cached indexes.
--
-- Postgres has no unique index across partitions, so "a code and role is redeemed
-- once" moves to `redemptions`: one narrow row per redeemed code and role, kept for
-- good (archiving never touches it). Settlement inserts there first and writes a scan
-- only for a row it inserted, so a second redemption is refused whatever month the
-- first one is in, and `restore` rebuilds every redemption bit from it. It also holds
-- who redeemed and the answer they got (moved from `scans.answer`): a retry long after
-- is answered with the same bytes by one look-up, archived month or not.
CREATE TABLE redemptions (
    batch_id  bigint NOT NULL,
    serial    bigint NOT NULL,
    role      text   NOT NULL,
    member    text   NOT NULL,
    answer    text,
    PRIMARY KEY (batch_id, serial, role)
);
INSERT INTO redemptions (batch_id, serial, role, member, answer)
SELECT batch_id, serial, role, member, answer FROM scans;

-- Creates the partition of `scans` holding `month` (any day of it) unless it exists;
-- answers whether it created it. Called ahead of time by `yima migrate` and the
-- worker, and by settlement for a month it meets first; an advisory lock lets
-- several callers race safely.
CREATE FUNCTION yima_scans_month(month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name  text := 'scans_' || to_char(first, 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('yima_scans_month'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF scans FOR VALUES FROM (%L) TO (%L)',
                   name, first, (first + interval '1 month')::date);
    RETURN true;
END $$;

ALTER TABLE awards DROP CONSTRAINT awards_scan_id_fkey;
ALTER TABLE scans RENAME TO scans_unpartitioned;
ALTER INDEX scans_pkey RENAME TO scans_unpartitioned_pkey;
ALTER INDEX scans_scanned_at RENAME TO scans_unpartitioned_scanned_at;
ALTER INDEX scans_diverted RENAME TO scans_unpartitioned_diverted;
CREATE TABLE scans (LIKE scans_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (day);
ALTER TABLE scans DROP COLUMN answer;
-- The scan id is the settled scan's key (idempotency key end to end); with the day it
-- is unique per partition, and `redemptions` makes it unique overall. The unique
-- index of (batch, serial, role) is gone with it: `redemptions` holds that promise.
ALTER TABLE scans ADD PRIMARY KEY (scan_id, day);
CREATE INDEX scans_scanned_at ON scans USING brin (scanned_at);
CREATE INDEX scans_diverted ON scans (campaign_id, scanned_at DESC)
    WHERE region <> batch_region;

SELECT yima_scans_month(m::date)
  FROM (SELECT DISTINCT date_trunc('month', day) AS m FROM scans_unpartitioned
        UNION SELECT generate_series(date_trunc('month', now()),
                                     date_trunc('month', now()) + interval '3 months',
                                     interval '1 month')) months;
INSERT INTO scans (scan_id, stream_id, campaign_id, revision, batch_id, serial, role, member, day,
                   scanned_at, level, draw, drawn, prize, points, growth, region, batch_region,
                   request_id, settled_at, architecture)
SELECT scan_id, stream_id, campaign_id, revision, batch_id, serial, role, member, day,
       scanned_at, level, draw, drawn, prize, points, growth, region, batch_region,
       request_id, settled_at, architecture
  FROM scans_unpartitioned;
DROP TABLE scans_unpartitioned;

-- What reconcile and restore still need of an archived month, per campaign: scans
-- and wins by day, prize and region (the scanner's, else the batch's; '' for none),
-- and whether the scan was flagged as diverted.
CREATE TABLE archived_scans (
    campaign_id  text    NOT NULL,
    day          date    NOT NULL,
    prize        text    NOT NULL,
    region       text    NOT NULL,
    diverted     boolean NOT NULL,
    scans        bigint  NOT NULL CHECK (scans > 0),
    PRIMARY KEY (campaign_id, day, prize, region, diverted)
);

-- Each archived partition: where its rows went and how many there were. A month
-- archived, written to again (a very late scan) and archived again has two parts.
CREATE TABLE archived_months (
    month        date        NOT NULL,
    part         integer     NOT NULL,
    rows         bigint      NOT NULL,
    file         text        NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, part)
);
