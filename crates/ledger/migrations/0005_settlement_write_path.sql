-- Settlement appends every scan; what each row costs bounds awards per second.
--
-- scans no longer checks its campaign and batch by foreign key: the gateway accepts a
-- code only for a registered batch of the campaign, batches are never deleted, and the
-- per-row checks were a sixth of settlement's time in Postgres. A check that failed
-- would also have stopped settlement for good on one bad stream entry; `yima audit`
-- is where such an entry is caught. awards and payouts keep theirs (written in the
-- same transaction as their scan; cheap at their volume).
ALTER TABLE scans DROP CONSTRAINT scans_campaign_id_fkey;
ALTER TABLE scans DROP CONSTRAINT scans_batch_id_fkey;

-- Every settled scan updates its member's balance. Free room on each page lets the
-- update stay on the page without a new index entry (a HOT update).
ALTER TABLE members SET (fillfactor = 50);
