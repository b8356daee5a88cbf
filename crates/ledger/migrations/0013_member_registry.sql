-- The brand-wide member registry: who registered in which architecture (tradesman,
-- dealer, decorator...), through which channel, with what profile and tags. Points and
-- levels stay per campaign (members); this is the person. A phone is kept only as a
-- keyed digest (to match) and a mask (to show).
CREATE TABLE member_registry (
    member         text        PRIMARY KEY,
    architecture   text        NOT NULL,
    channel        text        NOT NULL,
    nickname       text,
    region         text,
    birthday       date,
    phone_digest   bytea       CHECK (octet_length(phone_digest) = 32),
    phone_masked   text,
    tags           text[]      NOT NULL DEFAULT '{}',
    registered_at  timestamptz NOT NULL DEFAULT now()
);
-- Ops search by each of these, a page at a time in member order.
CREATE INDEX member_registry_architecture ON member_registry (architecture, member);
CREATE INDEX member_registry_region ON member_registry (region, member);
CREATE INDEX member_registry_channel ON member_registry (channel, member);
CREATE INDEX member_registry_tags ON member_registry USING gin (tags);
CREATE INDEX member_registry_phone ON member_registry (phone_digest);

-- Blocked members, registered or not (a fraudster need not have registered): their
-- scans are answered `blocked` before any draw.
CREATE TABLE member_blocks (
    member      text        PRIMARY KEY,
    reason      text        NOT NULL,
    blocked_at  timestamptz NOT NULL DEFAULT now()
);

-- Every change ops or the member made, for audit.
CREATE TABLE member_changes (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member  text        NOT NULL,
    change  text        NOT NULL,
    detail  text        NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_changes_member ON member_changes (member, id);

-- Gateways keep dealers and blocked members in memory and reload one when told.
CREATE FUNCTION yima_notify_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('yima_catalog', 'members:' || coalesce(NEW.member, OLD.member));
    RETURN NULL;
END $$;
CREATE TRIGGER member_registry_notify AFTER INSERT OR UPDATE OR DELETE ON member_registry
    FOR EACH ROW EXECUTE FUNCTION yima_notify_member();
CREATE TRIGGER member_blocks_notify AFTER INSERT OR UPDATE OR DELETE ON member_blocks
    FOR EACH ROW EXECUTE FUNCTION yima_notify_member();
