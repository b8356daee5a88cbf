-- The points mall: gifts bought with settled points, in one transaction that can
-- neither overspend nor oversell, idempotent by the client's request id.

-- How many of each gift were sold; the stock itself is in the campaign revision.
CREATE TABLE mall_sales (
    campaign_id  text   NOT NULL,
    item_id      text   NOT NULL,
    sold         bigint NOT NULL CHECK (sold >= 0),
    PRIMARY KEY (campaign_id, item_id)
);

-- One row per purchase; a repeated request id answers the stored body.
CREATE TABLE mall_orders (
    campaign_id  text        NOT NULL,
    request_id   text        NOT NULL,
    member       text        NOT NULL,
    item_id      text        NOT NULL,
    price_paid   bigint      NOT NULL CHECK (price_paid > 0),
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, request_id)
);

-- A backstop under the mall's own check: no balance goes negative.
ALTER TABLE members ADD CONSTRAINT members_points_never_negative CHECK (points >= 0);
