-- Settlement: every redemption the gateway answered, exactly once.
-- The idempotency key end to end is the scan id; (batch, serial, role) is unique among
-- settled scans, so a redemption repeated after a Redis loss can never be paid twice.

CREATE TABLE scans (
    scan_id      text        PRIMARY KEY,
    stream_id    text        NOT NULL,          -- the Redis stream entry it came from
    campaign_id  text        NOT NULL REFERENCES campaigns (id),
    revision     integer     NOT NULL,
    batch_id     bigint      NOT NULL REFERENCES batches (id),
    serial       bigint      NOT NULL,
    role         text        NOT NULL CHECK (role IN ('consumer', 'dealer')),
    member       text        NOT NULL,
    day          date        NOT NULL,
    scanned_at   timestamptz NOT NULL,
    level        integer     NOT NULL,
    draw         integer     NOT NULL,
    drawn        text,
    prize        text,
    points       bigint      NOT NULL,
    growth       bigint      NOT NULL,
    region       text,
    batch_region text,
    request_id   text,
    settled_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (batch_id, serial, role)
);
CREATE INDEX scans_scanned_at ON scans USING brin (scanned_at);
CREATE INDEX scans_member ON scans (campaign_id, member);

-- A second redemption of a code and role that reached settlement (possible only after
-- Redis lost state): kept for investigation, never paid.
CREATE TABLE rejected_redemptions (
    stream_id    text        NOT NULL,
    scan_id      text        NOT NULL,
    campaign_id  text        NOT NULL,
    member       text        NOT NULL,
    prize        text,
    points       bigint      NOT NULL,
    scanned_at   timestamptz NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, stream_id)
);

CREATE TABLE awards (
    scan_id      text        PRIMARY KEY REFERENCES scans (scan_id),
    campaign_id  text        NOT NULL,
    prize_id     text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('item', 'cash', 'points')),
    value        bigint      NOT NULL,
    member       text        NOT NULL,
    awarded_at   timestamptz NOT NULL
);
CREATE INDEX awards_prize ON awards (campaign_id, prize_id);

-- Append-only: every change of a member's points or growth, with its reason and the
-- event that caused it; a member's balance is the sum of these rows.
CREATE TABLE points_ledger (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  text        NOT NULL,
    member       text        NOT NULL,
    points       bigint      NOT NULL,
    growth       bigint      NOT NULL,
    reason       text        NOT NULL,
    source       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, reason)
);
CREATE INDEX points_ledger_member ON points_ledger (campaign_id, member);

CREATE TABLE members (
    campaign_id  text        NOT NULL,
    member       text        NOT NULL,
    points       bigint      NOT NULL DEFAULT 0,
    growth       bigint      NOT NULL DEFAULT 0,
    scans        bigint      NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, member)
);

-- Cash awards to pay out through the payment webhook, at most once each.
CREATE TABLE payouts (
    scan_id       text        PRIMARY KEY REFERENCES awards (scan_id),
    member        text        NOT NULL,
    amount_fen    bigint      NOT NULL CHECK (amount_fen > 0),
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    next_attempt  timestamptz NOT NULL DEFAULT now(),
    last_error    text,
    delivered_at  timestamptz
);
CREATE INDEX payouts_due ON payouts (next_attempt) WHERE status = 'pending';
