-- Anti-diversion (防窜货): a scan from outside its batch's region is flagged. Only
-- those rows enter this index, so settlement pays for it on flagged scans alone.
CREATE INDEX scans_diverted ON scans (campaign_id, scanned_at DESC)
    WHERE region <> batch_region;
