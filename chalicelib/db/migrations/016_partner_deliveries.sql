-- Partner deliveries: schedules (cron, target, filter, format, signing secret, watermark) and their
-- runs. A run covers approved content decided in (window_from, window_to]; the schedule's watermark
-- moves to window_to only when the run succeeds, so nothing is skipped and windows never overlap.

CREATE TABLE delivery_schedules (
    id             uuid PRIMARY KEY,
    partner        text NOT NULL,
    target_kind    text NOT NULL CHECK (target_kind IN ('webhook', 's3')),
    target         text NOT NULL,
    filter         jsonb NOT NULL DEFAULT '{}',
    format         text NOT NULL CHECK (format IN ('jsonl', 'csv')),
    cron           text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    secret         text NOT NULL,
    watermark_at   timestamptz NOT NULL,
    next_run_at    timestamptz NOT NULL,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE INDEX delivery_schedules_due_idx ON delivery_schedules (next_run_at)
    WHERE active AND deleted_at IS NULL;

CREATE TABLE delivery_runs (
    id             uuid PRIMARY KEY,
    schedule_id    uuid NOT NULL REFERENCES delivery_schedules (id),
    trigger        text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'retrying', 'succeeded', 'failed')),
    window_from    timestamptz NOT NULL,
    window_to      timestamptz NOT NULL CHECK (window_to >= window_from),
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    items          integer,
    bytes          bigint,
    response_code  integer,
    error          text,
    duration_ms    integer,
    location       text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
-- At most one run of a schedule in flight: overlapping runs cannot send the same window twice.
CREATE UNIQUE INDEX delivery_runs_in_flight_idx ON delivery_runs (schedule_id)
    WHERE status IN ('queued', 'running', 'retrying');
CREATE INDEX delivery_runs_schedule_idx ON delivery_runs (schedule_id, created_at DESC, id DESC);

-- Approved content by decision time: what deliveries (and exports) read.
CREATE INDEX IF NOT EXISTS submissions_decided_idx ON submissions (decided_at, id) WHERE decided_at IS NOT NULL;
