-- Physical prizes on their way to the member: an item award or a mall order, once the
-- member has given a shipping address. Unclaimed is the absence of a row; a claim moves
-- claimed -> shipped (carrier, tracking) -> delivered, each change a row of
-- claim_changes. The address is kept for fulfilment only.
CREATE TABLE claims (
    id           bigserial   PRIMARY KEY,
    campaign_id  text        NOT NULL,
    member       text        NOT NULL,
    -- `award:<scan_id>` or `order:<request_id>`: one claim per prize.
    source       text        NOT NULL UNIQUE,
    gift         text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('claimed', 'shipped', 'delivered')),
    name         text        NOT NULL,
    phone        text        NOT NULL,
    region       text        NOT NULL,
    address      text        NOT NULL,
    carrier      text,
    tracking     text,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    shipped_at   timestamptz,
    delivered_at timestamptz,
    CHECK ((status = 'claimed') = (carrier IS NULL AND tracking IS NULL))
);
CREATE INDEX claims_by_status ON claims (campaign_id, status, id);
CREATE INDEX claims_by_member ON claims (campaign_id, member);

CREATE TABLE claim_changes (
    id        bigserial   PRIMARY KEY,
    claim_id  bigint      NOT NULL REFERENCES claims (id),
    change    text        NOT NULL,
    detail    text        NOT NULL DEFAULT '',
    at        timestamptz NOT NULL DEFAULT now()
);
