-- The journal read at volume (docs/scaling.md, "Growth"): an hourly rollup of the money flows for the
-- economy overview and snapshot, and the checkpoints of the batched ledger verification.
--
-- Only new, empty tables: creating them takes no lock on the journal or the accounts, so writers
-- never wait. The economy snapshot job fills the rollup afterwards (backfill included) in short
-- transactions of its own; the nightly ledger_verify job writes the first checkpoint.

-- Per UTC hour, per account role (faucet, sink - the fee sink and any of its shards -, agent, system)
-- and entry kind: the sum of the legs' amounts and their count. Hours before the watermark are
-- complete; recomputing an hour replaces its rows (idempotent).
CREATE TABLE IF NOT EXISTS ledger_hourly_flows (
    hour       timestamptz NOT NULL,
    account    text NOT NULL CHECK (account IN ('faucet', 'sink', 'agent', 'system')),
    entry_kind text NOT NULL,
    amount     bigint NOT NULL,
    legs       bigint NOT NULL,
    PRIMARY KEY (hour, account, entry_kind)
);

-- One row: every hour before `watermark` is rolled up.
CREATE TABLE IF NOT EXISTS ledger_rollup_state (
    name       text PRIMARY KEY,
    watermark  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A full verification pass: every leg with id <= upto_leg_id was checked (chain, entry sums) and
-- each account's running total at that leg stored in ledger_verify_balances. Passes only insert,
-- so two concurrent passes never conflict; the API verifies the tail since the latest clean one.
CREATE TABLE IF NOT EXISTS ledger_verify_runs (
    id               bigserial PRIMARY KEY,
    upto_leg_id      bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL DEFAULT now(),
    accounts_checked integer NOT NULL,
    legs_checked     bigint NOT NULL,
    batches          integer NOT NULL,
    mismatches       jsonb NOT NULL DEFAULT '[]'
);

-- The running state of a pass while it runs (per account: the sum of its legs checked so far and
-- the balance_after of the last one; the entries a batch saw unbalanced), keyed by the pass's
-- transaction id and deleted before it commits. Regular tables rather than temporary ones: a
-- temporary table would pin the session behind RDS Proxy. Unlogged: scratch, never worth WAL.
CREATE UNLOGGED TABLE IF NOT EXISTS ledger_verify_scratch (
    pass       bigint NOT NULL,
    account_id bigint NOT NULL,
    total      bigint NOT NULL,
    last_after bigint NOT NULL,
    PRIMARY KEY (pass, account_id)
);

CREATE UNLOGGED TABLE IF NOT EXISTS ledger_verify_scratch_entries (
    pass     bigint NOT NULL,
    entry_id bigint NOT NULL,
    PRIMARY KEY (pass, entry_id)
);

CREATE TABLE IF NOT EXISTS ledger_verify_balances (
    run_id     bigint NOT NULL REFERENCES ledger_verify_runs (id) ON DELETE CASCADE,
    account_id bigint NOT NULL,
    total      bigint NOT NULL,  -- the sum of the account's legs up to the run's upto_leg_id
    last_after bigint NOT NULL,  -- balance_after of its last such leg (where the chain continues)
    PRIMARY KEY (run_id, account_id)
);
