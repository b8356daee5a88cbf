-- A stream entry id is unique only within its stream: the lanes of one campaign (and
-- different campaigns) can reject entries with the same id. A rejection is its scan id
-- and entry id.
ALTER TABLE rejected_redemptions DROP CONSTRAINT rejected_redemptions_pkey;
ALTER TABLE rejected_redemptions ADD PRIMARY KEY (scan_id, stream_id);
