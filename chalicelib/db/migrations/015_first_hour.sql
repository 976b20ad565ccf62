-- The first hour: hardship waivers in an agent's credit history, the review queue's filters,
-- validator quotas apart for shadow work, audited quota resets.

-- GET /v1/credits lists hardship waivers (entries without legs) beside the account's legs.
CREATE INDEX IF NOT EXISTS journal_entries_waiver_agent_idx
    ON journal_entries ((memo->>'agent_id'), created_at, id) WHERE kind = 'hardship_waiver';

-- The review queue's filters and sort orders.
CREATE INDEX IF NOT EXISTS review_items_created_idx ON review_items (created_at, id);
CREATE INDEX IF NOT EXISTS review_items_source_idx ON review_items (source, created_at, id);
CREATE INDEX IF NOT EXISTS review_items_priority_idx ON review_items (priority DESC, created_at, id);
