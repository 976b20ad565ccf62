-- The first hour: hardship waivers in an agent's credit history, the review queue's filters,
-- validator quotas apart for shadow work, audited quota resets.

-- GET /v1/credits lists hardship waivers (entries without legs) beside the account's legs.
CREATE INDEX IF NOT EXISTS journal_entries_waiver_agent_idx
    ON journal_entries ((memo->>'agent_id'), created_at, id) WHERE kind = 'hardship_waiver';

-- The review queue's filters and sort orders.
CREATE INDEX IF NOT EXISTS review_items_created_idx ON review_items (created_at, id);
CREATE INDEX IF NOT EXISTS review_items_source_idx ON review_items (source, created_at, id);
CREATE INDEX IF NOT EXISTS review_items_priority_idx ON review_items (priority DESC, created_at, id);

-- Shadow-mode work has its own daily quota: comparing peers with Layer B never uses up the
-- evaluations live submissions need.
ALTER TABLE validators
    ADD COLUMN IF NOT EXISTS shadow_evaluations_today integer NOT NULL DEFAULT 0
        CHECK (shadow_evaluations_today >= 0),
    ADD COLUMN IF NOT EXISTS shadow_quota_day date NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date;

-- Operators reset a validator's quota for the day; every reset is recorded.
CREATE TABLE IF NOT EXISTS validator_quota_resets (
    id            bigserial PRIMARY KEY,
    agent_id      uuid NOT NULL REFERENCES validators (agent_id),
    actor         text NOT NULL,
    reason        text NOT NULL,
    modes         text[] NOT NULL,
    live_before   integer NOT NULL,
    shadow_before integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS validator_quota_resets_agent_idx ON validator_quota_resets (agent_id, created_at);
