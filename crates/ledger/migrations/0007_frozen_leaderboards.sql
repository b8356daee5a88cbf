-- A month's leaderboards, frozen from the settled scans once the month has ended:
-- what prizes for a monthly PK are paid on, long after Redis dropped the month.
CREATE TABLE leaderboard_months (
    campaign_id  text        NOT NULL,
    period       text        NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    frozen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, period)
);

CREATE TABLE leaderboard_entries (
    campaign_id  text        NOT NULL,
    period       text        NOT NULL,
    region       text        NOT NULL,   -- '' for the campaign-wide board
    rank         integer     NOT NULL CHECK (rank > 0),
    member       text        NOT NULL,
    scans        bigint      NOT NULL,
    reached_at   timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, period, region, rank)
);
