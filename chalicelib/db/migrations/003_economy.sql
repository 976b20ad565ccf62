-- The credit economy: hourly health snapshots, the alerts table (shared by every alert rule), and
-- indexes for reading the journal by time window.

-- The journal is append-only and written in time order: BRIN indexes on created_at are tiny and
-- cost next to nothing per insert, yet let window queries skip everything outside the window.
CREATE INDEX journal_legs_created_brin ON journal_legs USING brin (created_at);
CREATE INDEX journal_entries_created_brin ON journal_entries USING brin (created_at);

-- One row per hourly window (scheduled snapshots; on-demand computations are not stored).
-- Amounts are integer millicredits. ratio = faucet / sink, NULL when sink is 0: ratio_state then
-- says whether money came out of the faucet with nothing sunk ('no_sink') or nothing moved ('idle').
CREATE TABLE economy_snapshots (
    id                bigserial PRIMARY KEY,
    window_start      timestamptz NOT NULL,
    window_end        timestamptz NOT NULL,
    faucet            bigint NOT NULL,
    starter_grants    bigint NOT NULL,
    sink              bigint NOT NULL,
    ratio             numeric(14, 4),
    ratio_state       text NOT NULL CHECK (ratio_state IN ('defined', 'no_sink', 'idle')),
    active_agents     integer NOT NULL CHECK (active_agents >= 0),
    agents_total      integer NOT NULL CHECK (agents_total >= 0),
    hardship_agents   integer NOT NULL CHECK (hardship_agents >= 0),
    hardship_rate     numeric(7, 4) NOT NULL CHECK (hardship_rate BETWEEN 0 AND 1),
    median_balance    bigint NOT NULL,
    circulating       bigint NOT NULL,
    total_validators  integer NOT NULL CHECK (total_validators >= 0),
    alerts            jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (window_end > window_start),
    CHECK ((ratio IS NULL) = (ratio_state <> 'defined')),
    UNIQUE (window_start, window_end)
);
CREATE INDEX economy_snapshots_end_idx ON economy_snapshots (window_end DESC, id DESC);

-- Alerts raised by any rule (economy, operations, spot checks, ...). At most one unresolved alert
-- per dedup_key; a repeat within the dedup window only moves last_seen_at.
CREATE TABLE alerts (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    rule             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('warning', 'critical')),
    tier             integer NOT NULL DEFAULT 1 CHECK (tier >= 1),
    title            text NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedup_key        text,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    occurrences      integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    escalated_at     timestamptz,
    resolved_at      timestamptz,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_unresolved_dedup_idx ON alerts (dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_status_idx ON alerts (status, created_at DESC);
CREATE INDEX alerts_dedup_seen_idx ON alerts (dedup_key, last_seen_at DESC);
