-- The architecture whose rules (levels, odds, rebates) a scan was drawn under, so
-- `yima audit` re-derives it with the same odds; NULL: the campaign's own rules.
-- A nullable column without a default: added without rewriting the table.
ALTER TABLE scans ADD COLUMN architecture text;
