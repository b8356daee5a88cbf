-- Settlement writes every index on every award, so each one must have a reader.
-- scans_member and awards_prize had none (member reads go through `members`, stock
-- counts through `scans.prize`), and the ledger's surrogate id duplicated its natural
-- key: an entry is identified by its source event and reason.
DROP INDEX scans_member;
DROP INDEX awards_prize;
ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_source_reason_key;
ALTER TABLE points_ledger DROP COLUMN id;
ALTER TABLE points_ledger ADD PRIMARY KEY (source, reason);
