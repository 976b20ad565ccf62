-- The privacy stage's recovery: photos the stage did not finish within its lease are sent again by
-- a sweep (a bounded number of times, then rejected with a reason), and a photo decoded although
-- its file missed trailing bytes is marked as such.

-- When the sweep last sent the photo again and how often; the lease of a requeued photo runs from
-- stage_requeued_at. An operator's retry starts the count again.
ALTER TABLE evidence
    ADD COLUMN IF NOT EXISTS stage_requeues integer NOT NULL DEFAULT 0 CHECK (stage_requeues >= 0),
    ADD COLUMN IF NOT EXISTS stage_requeued_at timestamptz,
    ADD COLUMN IF NOT EXISTS recovered_truncated boolean NOT NULL DEFAULT false;

-- The sweep and the late-photo figures read the photos waiting for the stage.
CREATE INDEX IF NOT EXISTS evidence_waiting_idx ON evidence (coalesce(stage_requeued_at, uploaded_at))
    WHERE status = 'quarantined';
