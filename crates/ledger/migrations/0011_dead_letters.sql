-- Stream entries settlement could not read. Each is kept with its raw payload and
-- acknowledged on the stream, so one bad entry never pins the stream; reconcile names
-- them until an operator has dealt with each one and deleted its row.
CREATE TABLE dead_letters (
    stream      text NOT NULL,
    stream_id   text NOT NULL,
    campaign_id text NOT NULL,
    reason      text NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, stream_id)
);
CREATE INDEX dead_letters_by_campaign ON dead_letters (campaign_id);
