-- Hot rows: two single rows that every writer of a busy path updated are split into 16.
--
-- The fee sink. Every submission fee credited the one account 'system:sink', so its row lock
-- serialised all fees from the fee's post to the commit. Fees now go to one of 16 sink accounts
-- 'system:sink:0' .. 'system:sink:15', chosen by a stable hash of the entry's idempotency key
-- (domain/ledger.py `sink_for`). The old account stays: it keeps its balance and its legs, and
-- every reader of the sink (economy flows, snapshots, ledger flows) counts it with the shards.
INSERT INTO accounts (code, kind)
SELECT 'system:sink:' || n, 'system' FROM generate_series(0, 15) AS n
ON CONFLICT (code) DO NOTHING;

-- Layer B's spend per day. Every real call added its cost to the day's one row. Callers now add to
-- one of 16 rows of the day (the shard chosen by the call's id); the budget check reads the sum of
-- the day's shards and of the day's row in layer_b_spend_days, which keeps the alert marks (and what
-- was spent before this migration).
CREATE TABLE layer_b_spend_shards (
    day             date NOT NULL,
    shard           smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    cost_usd_micros bigint NOT NULL DEFAULT 0 CHECK (cost_usd_micros >= 0),
    calls           integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    PRIMARY KEY (day, shard)
);
