-- Periods whose level downgrade (growth cut at the boundary) has been applied, so a
-- boundary is applied once however many workers look.
CREATE TABLE level_downgrades (
    campaign_id  text        NOT NULL,
    boundary     date        NOT NULL,
    members      bigint      NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, boundary)
);
