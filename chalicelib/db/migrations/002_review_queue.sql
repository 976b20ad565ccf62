-- Layer C: the human review queue. Items come from Layer B failures and flags, spot-check
-- disagreements, attestations and operators; transitions are guarded in code and by this CHECK.
CREATE TABLE review_items (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject_type  text NOT NULL CHECK (subject_type IN ('submission', 'problem', 'evidence', 'agent')),
    subject_id    uuid NOT NULL,
    source        text NOT NULL,
    reason        text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    priority      integer NOT NULL DEFAULT 0,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'claimed', 'reviewed', 'escalated', 'dismissed')),
    claimed_by    text,
    claimed_at    timestamptz,
    resolution    text,
    notes         text,
    resolved_by   text,
    resolved_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    dedup_key     text UNIQUE
);
CREATE INDEX review_items_status_idx ON review_items (status, priority DESC, created_at, id);
CREATE INDEX review_items_subject_idx ON review_items (subject_type, subject_id);
