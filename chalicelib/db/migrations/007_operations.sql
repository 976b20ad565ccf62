-- Operations: alert delivery and escalation (on top of 003's alerts table), scheduler runs, the
-- slow-query log and the little state the alert engine keeps between runs.

-- Alerts: who acknowledged with what note, and how far the alert escalated.
ALTER TABLE alerts
    ADD COLUMN ack_note          text,
    ADD COLUMN escalation_level  integer NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
    ADD COLUMN resolved_by       text;
CREATE INDEX alerts_created_idx ON alerts (created_at DESC, id DESC);
CREATE INDEX alerts_rule_created_idx ON alerts (rule, created_at DESC, id DESC);
CREATE INDEX alerts_open_idx ON alerts (created_at) WHERE status = 'open';

-- One row per (alert, event, channel): the notification outbox. A raise pages once; an escalation
-- pages once more. Rows are written in the alert's transaction and delivered after commit, with
-- retries inside one delivery and again on later engine runs until `max rounds`.
CREATE TABLE alert_notifications (
    id            bigserial PRIMARY KEY,
    alert_id      uuid NOT NULL REFERENCES alerts (id),
    event         text NOT NULL CHECK (event IN ('raised', 'escalated')),
    channel       text NOT NULL CHECK (channel IN ('log', 'sns', 'webhook', 'email')),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    rounds        integer NOT NULL DEFAULT 0 CHECK (rounds >= 0),
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    UNIQUE (alert_id, event, channel),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX alert_notifications_pending_idx ON alert_notifications (created_at, id) WHERE status = 'pending';

-- Every scheduled job run (EventBridge in AWS, the local scheduler locally).
CREATE TABLE job_runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    ok           boolean,
    error        text,
    result       jsonb,
    duration_ms  integer CHECK (duration_ms >= 0),
    CHECK ((finished_at IS NULL) = (ok IS NULL))
);
CREATE INDEX job_runs_job_idx ON job_runs (job, started_at DESC);
CREATE INDEX job_runs_started_brin ON job_runs USING brin (started_at);

-- Statements slower than the slow-query threshold: SQL text only, never parameters.
CREATE TABLE slow_queries (
    id              bigserial PRIMARY KEY,
    statement       text NOT NULL,
    duration_ms     double precision NOT NULL CHECK (duration_ms >= 0),
    occurred_at     timestamptz NOT NULL,
    correlation_id  text,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slow_queries_occurred_idx ON slow_queries (occurred_at DESC);

-- Small named values the alert engine compares between runs (e.g. dead-letter queue depths).
CREATE TABLE operations_state (
    name        text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
