-- A scan's credit is its `scans` row (member, points, growth, settled_at): the copy of
-- it in `points_ledger` was a second row and two index entries for every scan settled,
-- about 150 bytes and a fifth of settlement's work. `points_ledger` keeps the other
-- entries (sign-ins, mall orders, downgrades); `points_entries` is the whole ledger,
-- what a member's balance is the sum of while every month is kept.
DELETE FROM points_ledger WHERE reason = 'scan';

-- The member centre's history reads a member's scans: without this index every page
-- read every partition.
CREATE INDEX scans_by_member ON scans (campaign_id, member);

CREATE VIEW points_entries AS
    SELECT campaign_id, member, points, growth, 'scan' AS reason, scan_id AS source,
           settled_at AS created_at
      FROM scans
    UNION ALL
    SELECT campaign_id, member, points, growth, reason, source, created_at
      FROM points_ledger;
