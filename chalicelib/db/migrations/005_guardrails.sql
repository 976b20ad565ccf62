-- Guardrails around the Layer B classifier (cost, daily budget, result cache, per-domain thresholds)
-- and the audit of the human review queue (Layer C).

-- Every Layer B classification: real calls with their tokens and cost, and the calls avoided
-- (a cache hit, a spent budget) with zero cost, so operators see all three.
CREATE TABLE layer_b_calls (
    id                          bigserial PRIMARY KEY,
    submission_id               uuid REFERENCES submissions (id),
    purpose                     text NOT NULL CHECK (purpose ~ '^[a-z][a-z_]{0,39}$'),
    outcome                     text NOT NULL CHECK (outcome IN ('called', 'cache_hit', 'budget_exhausted')),
    classifier                  text NOT NULL CHECK (classifier IN ('anthropic', 'offline')),
    model                       text NOT NULL,
    batch                       boolean NOT NULL DEFAULT false,
    input_tokens                integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens               integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cache_creation_input_tokens integer NOT NULL DEFAULT 0 CHECK (cache_creation_input_tokens >= 0),
    cache_read_input_tokens     integer NOT NULL DEFAULT 0 CHECK (cache_read_input_tokens >= 0),
    cost_usd_micros             bigint NOT NULL DEFAULT 0 CHECK (cost_usd_micros >= 0),
    attempts                    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    latency_ms                  integer NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    error                       text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    CHECK (outcome = 'called' OR cost_usd_micros = 0)
);
CREATE INDEX layer_b_calls_created_idx ON layer_b_calls (created_at);
CREATE INDEX layer_b_calls_submission_idx ON layer_b_calls (submission_id);

-- Spend per UTC day: the budget check reads one row, and the row lock serialises the alerts so
-- each threshold alerts once a day.
CREATE TABLE layer_b_spend_days (
    day             date PRIMARY KEY,
    cost_usd_micros bigint NOT NULL DEFAULT 0 CHECK (cost_usd_micros >= 0),
    calls           integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    alerted_80_at   timestamptz,
    exhausted_at    timestamptz
);

-- Assessments by normalised content, reused for an hour: a hit costs nothing.
CREATE TABLE layer_b_cache (
    cache_key   text NOT NULL,
    classifier  text NOT NULL CHECK (classifier IN ('anthropic', 'offline')),
    model       text NOT NULL,
    assessment  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (cache_key, classifier, model),
    CHECK (expires_at > created_at)
);
CREATE INDEX layer_b_cache_expires_idx ON layer_b_cache (expires_at);

-- Operator overrides of the Layer B decision thresholds for one domain.
CREATE TABLE layer_b_thresholds (
    domain     text PRIMARY KEY,
    approve    double precision NOT NULL,
    flag       double precision NOT NULL,
    harm_warn  double precision NOT NULL,
    harm_block double precision NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (0 <= flag AND flag < approve AND approve <= 1),
    CHECK (0 <= harm_warn AND harm_warn < harm_block AND harm_block <= 1)
);

-- Every change of an override: who, when, old, new (NULL when removed), why.
CREATE TABLE layer_b_threshold_changes (
    id         bigserial PRIMARY KEY,
    domain     text NOT NULL,
    old_value  jsonb,
    new_value  jsonb,
    reason     text NOT NULL,
    actor      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX layer_b_threshold_changes_domain_idx ON layer_b_threshold_changes (domain, created_at);
CREATE INDEX layer_b_threshold_changes_created_idx ON layer_b_threshold_changes (created_at, id);

-- Layer C audit: every transition of a review item, with who made it.
CREATE TABLE review_item_events (
    id          bigserial PRIMARY KEY,
    item_id     uuid NOT NULL REFERENCES review_items (id),
    action      text NOT NULL CHECK (action IN ('claim', 'review', 'escalate', 'dismiss')),
    from_status text NOT NULL,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    notes       text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_item_events_item_idx ON review_item_events (item_id, id);

-- Listing the queue in arrival order, optionally by status.
CREATE INDEX review_items_created_idx ON review_items (created_at, id);
CREATE INDEX review_items_status_created_idx ON review_items (status, created_at, id);

-- Compliance: an agent's Layer A blocks within a window.
CREATE INDEX submissions_agent_decider_idx ON submissions (agent_id, decided_by, decided_at);
