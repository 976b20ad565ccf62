-- Export jobs: an operator export too large to answer inline (API Gateway and Lambda cap a response at
-- 29 s and 6-10 MB) is written by the export_job worker to S3 as a multipart upload of 8 MiB parts.
-- The row is the job's checkpoint: the keyset cursor of the last row in the last committed part, the
-- upload id and the parts' ETags. A re-delivered message continues from there (a part is uploaded
-- again under the same number, which replaces it), so a crash never duplicates or drops a row.

CREATE TABLE export_jobs (
    id            uuid PRIMARY KEY,
    requested_by  uuid NOT NULL REFERENCES api_keys (id),  -- the admin key that asked
    kind          text NOT NULL CHECK (kind IN ('decisions', 'trends', 'compliance', 'ledger')),
    filter        jsonb NOT NULL,          -- {"from": day, "to": day}
    format        text NOT NULL CHECK (format IN ('csv', 'json')),
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    as_of         timestamptz NOT NULL,    -- rows written after this are not part of the export
    estimated_rows  bigint NOT NULL DEFAULT 0 CHECK (estimated_rows >= 0),
    estimated_bytes bigint NOT NULL DEFAULT 0 CHECK (estimated_bytes >= 0),
    object_key    text NOT NULL,
    cursor        jsonb,                   -- keyset position of the last row in the last committed part
    upload_id     text,
    parts         jsonb NOT NULL DEFAULT '[]',  -- [{"PartNumber": n, "ETag": "..."}] committed so far
    all_parts     boolean NOT NULL DEFAULT false,  -- the last part is in: only joining the parts remains
    rows          bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
    bytes         bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    run_open      boolean NOT NULL DEFAULT false,  -- a run began and has not ended cleanly (yet)
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error         text,
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    updated_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    expires_at    timestamptz NOT NULL,
    CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);
-- The per-admin cap counts an admin's unfinished jobs.
CREATE INDEX export_jobs_unfinished_idx ON export_jobs (requested_by) WHERE status IN ('queued', 'running');

-- Jobs read compliance events page by page after (created_at, id): without this index every page
-- would scan the trail from its start.
CREATE INDEX IF NOT EXISTS decision_trail_created_idx ON decision_trail (created_at, id);
