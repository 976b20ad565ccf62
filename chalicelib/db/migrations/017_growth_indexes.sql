-- Indexes the growth benchmark asked for (bench/bench_growth.py at 1 M submissions, 6 M evaluations,
-- 10 M journal legs; docs/scaling.md, "Growth"). Each replaces a sequential scan of the whole
-- evaluations table on a path that runs per request or every minute.
--
-- On a large live database, build them first with CREATE INDEX CONCURRENTLY under the same names
-- (no write lock while they build); IF NOT EXISTS then makes this migration a no-op.

-- GET /v1/validator/stats counts one validator's evaluations by status.
CREATE INDEX IF NOT EXISTS evaluations_validator_status_idx ON evaluations (validator_id, status);

-- Decision gates, the dashboard and the alert engine: evaluations answered or expired in the last
-- 7 days (the pooled response rate), read from the index alone.
CREATE INDEX IF NOT EXISTS evaluations_closed_recent_idx ON evaluations (closed_at) INCLUDE (status)
    WHERE status IN ('answered', 'expired');

-- The compliance score runs for the submitter of every guardrail message and for every validator
-- an assignment considers, and the alert engine every minute: their trail lookups for the rare or
-- per-routing stages (admin reviews, Layer B flags, assignments) read these partial indexes instead
-- of probing the whole trail of a busy agent's submissions or scanning the whole trail.
CREATE INDEX IF NOT EXISTS decision_trail_admin_review_idx ON decision_trail (created_at, submission_id)
    WHERE stage = 'admin_review';
CREATE INDEX IF NOT EXISTS decision_trail_layer_b_flagged_idx ON decision_trail (created_at, submission_id)
    WHERE stage = 'layer_b' AND verdict ->> 'decision' = 'flagged';
CREATE INDEX IF NOT EXISTS decision_trail_assignment_idx ON decision_trail (created_at)
    WHERE stage = 'assignment';

-- Dead letters (worker health, the dashboard, decision gates, the alert engine): a handful of rows
-- among every message ever sent.
CREATE INDEX IF NOT EXISTS outbox_dead_idx ON outbox (dead_at) INCLUDE (topic) WHERE dead_at IS NOT NULL;
