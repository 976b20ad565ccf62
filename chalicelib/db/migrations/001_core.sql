-- Core schema: identities, keys, the ledger, submissions with their decision trail, the outbox,
-- idempotency records, rate-limit windows and feature flags.


CREATE TABLE agents (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('agent', 'human')),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description     text NOT NULL DEFAULT '',
    owner_id        uuid NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    approvals_count integer NOT NULL DEFAULT 0 CHECK (approvals_count >= 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_owner_idx ON agents (owner_id);
CREATE INDEX agents_created_idx ON agents (created_at, id);

-- API keys: only a SHA-256 hash is stored; the prefix finds the row, the hash proves the key.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    prefix       text NOT NULL UNIQUE,
    key_hash     bytea NOT NULL,
    role         text NOT NULL CHECK (role IN ('agent', 'human', 'admin')),
    agent_id     uuid REFERENCES agents (id),
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK ((role = 'admin') = (agent_id IS NULL))
);
CREATE INDEX api_keys_agent_idx ON api_keys (agent_id);

-- Double-entry ledger in integer millicredits (1 credit = 1000).
CREATE TABLE accounts (
    id         bigserial PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('agent', 'system')),
    agent_id   uuid UNIQUE REFERENCES agents (id),
    balance    bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'system' OR balance >= 0),
    CHECK ((kind = 'agent') = (agent_id IS NOT NULL))
);

INSERT INTO accounts (code, kind) VALUES ('system:faucet', 'system'), ('system:sink', 'system');

CREATE TABLE journal_entries (
    id              bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    kind            text NOT NULL,
    memo            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_kind_idx ON journal_entries (kind, created_at);

CREATE TABLE journal_legs (
    id             bigserial PRIMARY KEY,
    entry_id       bigint NOT NULL REFERENCES journal_entries (id),
    account_id     bigint NOT NULL REFERENCES accounts (id),
    amount         bigint NOT NULL CHECK (amount <> 0),
    balance_before bigint NOT NULL,
    balance_after  bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (balance_after = balance_before + amount)
);
CREATE INDEX journal_legs_account_idx ON journal_legs (account_id, created_at, id);
CREATE INDEX journal_legs_entry_idx ON journal_legs (entry_id);

-- Every entry balances: checked at commit, whatever code wrote the legs.
CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT COALESCE(SUM(amount), 0) INTO total FROM journal_legs WHERE entry_id = NEW.entry_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance (sum %)', NEW.entry_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER journal_legs_balanced
    AFTER INSERT OR UPDATE ON journal_legs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();

-- The journal is append-only.
CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER journal_legs_append_only BEFORE UPDATE OR DELETE ON journal_legs
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

CREATE TABLE submissions (
    id               uuid PRIMARY KEY,
    agent_id         uuid NOT NULL REFERENCES agents (id),
    kind             text NOT NULL CHECK (kind IN ('problem', 'solution', 'debate')),
    title            text NOT NULL,
    body             text NOT NULL,
    domain           text,
    latitude         double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude        double precision CHECK (longitude BETWEEN -180 AND 180),
    mission_id       uuid,
    content_hash     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'flagged')),
    decided_by       text CHECK (decided_by IN ('layer_a', 'layer_b', 'peer', 'admin', 'fallback')),
    route_path       text CHECK (route_path IN ('layer_b', 'peer')),
    cost_millicredits bigint NOT NULL DEFAULT 0 CHECK (cost_millicredits >= 0),
    idempotency_key  text,
    request_hash     text,
    correlation_id   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz,
    UNIQUE (agent_id, idempotency_key),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX submissions_agent_idx ON submissions (agent_id, created_at, id);
CREATE INDEX submissions_created_idx ON submissions (created_at, id);
CREATE INDEX submissions_pending_idx ON submissions (created_at) WHERE status = 'pending';

-- Every verdict about a submission, in order: Layer A, Layer B, routing, evaluations, consensus, ...
CREATE TABLE decision_trail (
    id            bigserial PRIMARY KEY,
    submission_id uuid NOT NULL REFERENCES submissions (id),
    stage         text NOT NULL,
    verdict       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decision_trail_submission_idx ON decision_trail (submission_id, id);

-- Transactional outbox: a state change and the message it causes commit together.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    topic          text NOT NULL,
    payload        jsonb NOT NULL,
    correlation_id text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    available_at   timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    dead_at        timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text
);
CREATE INDEX outbox_unsent_idx ON outbox (available_at, id) WHERE sent_at IS NULL AND dead_at IS NULL;

-- Exactly-once effects: a consumer records each message key in the transaction of its effect.
CREATE TABLE processed_messages (
    consumer     text NOT NULL,
    message_key  text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_key)
);

CREATE TABLE rate_limit_windows (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE feature_flags (
    name       text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE feature_flag_changes (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    old_value  jsonb,
    new_value  jsonb NOT NULL,
    reason     text NOT NULL,
    actor      text NOT NULL,
    forced     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feature_flag_changes_name_idx ON feature_flag_changes (name, created_at);
