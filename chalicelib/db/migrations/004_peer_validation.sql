-- Peer validation (Layer B'): the validator pool, evaluations, one consensus per submission,
-- shadow comparisons, spot checks and the Layer B batches that run them.

CREATE TABLE validators (
    agent_id           uuid PRIMARY KEY REFERENCES agents (id),
    tier               text NOT NULL DEFAULT 'apprentice'
                       CHECK (tier IN ('apprentice', 'journeyman', 'expert')),
    f1_score           double precision NOT NULL DEFAULT 0 CHECK (f1_score BETWEEN 0 AND 1),
    precision_score    double precision NOT NULL DEFAULT 0 CHECK (precision_score BETWEEN 0 AND 1),
    recall_score       double precision NOT NULL DEFAULT 0 CHECK (recall_score BETWEEN 0 AND 1),
    -- evaluations with ground truth, all time (the tier rules count these)
    scored_evaluations integer NOT NULL DEFAULT 0 CHECK (scored_evaluations >= 0),
    -- answered / (answered + expired) over the last 100 closed evaluations; NULL before the first
    response_rate      double precision CHECK (response_rate BETWEEN 0 AND 1),
    -- evaluations asked of the validator on quota_day (cancelled ones are given back)
    evaluations_today  integer NOT NULL DEFAULT 0 CHECK (evaluations_today >= 0),
    quota_day          date NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    suspended_at       timestamptz,
    suspended_until    timestamptz,
    suspension_reason  text,
    tier_changed_at    timestamptz NOT NULL DEFAULT now(),
    joined_at          timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((suspended_at IS NULL) = (suspension_reason IS NULL))
);
CREATE INDEX validators_joined_idx ON validators (joined_at, agent_id);

-- Up to 3 home regions per validator (the limit is enforced under the validator's row lock).
CREATE TABLE validator_regions (
    id         bigserial PRIMARY KEY,
    agent_id   uuid NOT NULL REFERENCES validators (agent_id),
    latitude   double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude  double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX validator_regions_agent_idx ON validator_regions (agent_id);

CREATE TABLE validator_tier_changes (
    id                 bigserial PRIMARY KEY,
    agent_id           uuid NOT NULL REFERENCES validators (agent_id),
    old_tier           text NOT NULL,
    new_tier           text NOT NULL,
    f1_score           double precision NOT NULL,
    scored_evaluations integer NOT NULL,
    reason             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX validator_tier_changes_agent_idx ON validator_tier_changes (agent_id, created_at, id);

-- One row per peer-reviewed submission: opened at assignment, decided once.
CREATE TABLE consensus_decisions (
    submission_id     uuid PRIMARY KEY REFERENCES submissions (id),
    mode              text NOT NULL CHECK (mode IN ('live', 'shadow')),
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'decided')),
    -- the Layer B decision stored at routing: the fallback, and a ground truth when valid
    layer_b_decision  text NOT NULL CHECK (layer_b_decision IN ('approved', 'rejected', 'flagged')),
    layer_b_valid     boolean NOT NULL,
    truth_spot_check  text CHECK (truth_spot_check IN ('approved', 'rejected', 'flagged')),
    truth_admin       text CHECK (truth_admin IN ('approved', 'rejected', 'flagged')),
    assigned          integer NOT NULL CHECK (assigned > 0),
    opened_at         timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    quorum_reached_at timestamptz,
    cause             text CHECK (cause IN ('quorum', 'timeout')),
    outcome           text CHECK (outcome IN ('approved', 'rejected', 'escalated')),
    reason            text,
    arithmetic        jsonb,
    votes             integer,
    applied_verdict   text CHECK (applied_verdict IN ('approved', 'rejected', 'flagged')),
    decided_by        text CHECK (decided_by IN ('peer', 'fallback')),
    decided_at        timestamptz,
    latency_ms        integer CHECK (latency_ms >= 0),
    spot_checked      boolean NOT NULL DEFAULT false,
    CHECK ((status = 'decided') = (decided_at IS NOT NULL AND outcome IS NOT NULL))
);
CREATE INDEX consensus_decisions_open_idx ON consensus_decisions (expires_at) WHERE status = 'open';
CREATE INDEX consensus_decisions_decided_idx ON consensus_decisions (decided_at) WHERE status = 'decided';

CREATE TABLE evaluations (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    submission_id      uuid NOT NULL REFERENCES consensus_decisions (submission_id),
    validator_id       uuid NOT NULL REFERENCES validators (agent_id),
    mode               text NOT NULL CHECK (mode IN ('live', 'shadow')),
    tier_at_assignment text NOT NULL CHECK (tier_at_assignment IN ('apprentice', 'journeyman', 'expert')),
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'answered', 'expired', 'cancelled')),
    assigned_at        timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    decision           text CHECK (decision IN ('approve', 'reject', 'flag')),
    confidence         double precision CHECK (confidence BETWEEN 0 AND 1),
    reasoning          text,
    safety_flagged     boolean,
    responded_at       timestamptz,
    closed_at          timestamptz,
    -- the best ground truth known for the submission, and when the first one arrived
    truth              text CHECK (truth IN ('approved', 'rejected', 'flagged')),
    truth_source       text CHECK (truth_source IN ('admin', 'spot_check', 'layer_b')),
    scored_at          timestamptz,
    reward_millicredits bigint CHECK (reward_millicredits >= 0),
    UNIQUE (submission_id, validator_id),
    CHECK ((status = 'answered') = (responded_at IS NOT NULL)),
    CHECK (status <> 'answered' OR (decision IS NOT NULL AND confidence IS NOT NULL AND safety_flagged IS NOT NULL)),
    CHECK ((truth IS NULL) = (truth_source IS NULL) AND (truth IS NULL) = (scored_at IS NULL))
);
CREATE INDEX evaluations_pending_idx ON evaluations (validator_id, assigned_at, id) WHERE status = 'pending';
CREATE INDEX evaluations_expiry_idx ON evaluations (expires_at) WHERE status = 'pending';
CREATE INDEX evaluations_scored_idx ON evaluations (validator_id, scored_at, id) WHERE scored_at IS NOT NULL;
CREATE INDEX evaluations_closed_idx ON evaluations (validator_id, closed_at, id) WHERE closed_at IS NOT NULL;
CREATE INDEX evaluations_responded_idx ON evaluations (responded_at) WHERE responded_at IS NOT NULL;

-- Shadow mode: what peers decided next to what Layer B decided (the traffic gate reads these).
CREATE TABLE shadow_comparisons (
    submission_id     uuid PRIMARY KEY REFERENCES consensus_decisions (submission_id),
    consensus_outcome text NOT NULL CHECK (consensus_outcome IN ('approved', 'rejected', 'escalated')),
    layer_b_decision  text NOT NULL CHECK (layer_b_decision IN ('approved', 'rejected', 'flagged')),
    agrees            boolean NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shadow_comparisons_created_idx ON shadow_comparisons (created_at);

-- Layer B re-evaluates ~5 % of peer decisions on the real content.
CREATE TABLE spot_checks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    submission_id    uuid NOT NULL UNIQUE REFERENCES consensus_decisions (submission_id),
    peer_outcome     text NOT NULL CHECK (peer_outcome IN ('approved', 'rejected')),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'submitting', 'batched', 'completed', 'failed')),
    batch_id         text,
    claimed_at       timestamptz,
    layer_b_decision text CHECK (layer_b_decision IN ('approved', 'rejected', 'flagged')),
    layer_b_result   jsonb,
    error            text,
    agrees           boolean,
    disagreement     text CHECK (disagreement IN ('false_negative', 'false_positive', 'missed_flag')),
    review_item_id   uuid,
    verdict          text CHECK (verdict IN ('peer_correct', 'layer_b_correct')),
    verdict_notes    text,
    verdict_by       text,
    verdict_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    CHECK ((status = 'completed') = (layer_b_decision IS NOT NULL AND agrees IS NOT NULL)),
    CHECK ((agrees IS NOT FALSE) OR disagreement IS NOT NULL),
    CHECK (verdict IS NULL OR status = 'completed')
);
CREATE INDEX spot_checks_status_idx ON spot_checks (status, created_at);
CREATE INDEX spot_checks_created_idx ON spot_checks (created_at, id);

CREATE TABLE layer_b_batches (
    id           text PRIMARY KEY,
    purpose      text NOT NULL DEFAULT 'spot_check',
    status       text NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ended')),
    items        integer NOT NULL CHECK (items > 0),
    polls        integer NOT NULL DEFAULT 0,
    last_error   text,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    collected_at timestamptz
);
CREATE INDEX layer_b_batches_processing_idx ON layer_b_batches (submitted_at) WHERE status = 'processing';
