-- Campaigns: the validated campaign file is the source of truth; hot counters live
-- in Redis and are rebuilt from here.
CREATE TABLE campaigns (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name        text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    timezone    text        NOT NULL,
    definition  jsonb       NOT NULL,
    -- bumped on every change so gateways can tell a stale prize table
    revision    integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Batches: one print run of codes. The id is written into every code's 32-bit
-- batch field, hence the identity's upper bound.
CREATE TABLE batches (
    id          bigint GENERATED ALWAYS AS IDENTITY (START WITH 1 MAXVALUE 4294967295) PRIMARY KEY,
    campaign_id text        NOT NULL REFERENCES campaigns (id),
    sku         text        NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    count       bigint      NOT NULL CHECK (count BETWEEN 1 AND 1000000000),
    region      text        CHECK (region ~ '^[A-Za-z0-9_-]{1,32}$'),
    key_id      smallint    NOT NULL CHECK (key_id BETWEEN 0 AND 255),
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'void')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    voided_at   timestamptz,
    CHECK ((status = 'void') = (voided_at IS NOT NULL))
);

CREATE INDEX batches_campaign ON batches (campaign_id);
