-- Trends: per-day figures written by the daily aggregation job (one row per day, metric and series).
-- A day is aggregated in one transaction that deletes and rewrites its rows, so a re-run for a day
-- replaces that day's figures; trend_days records which days are done (the backfill reads it).

CREATE TABLE trend_days (
    day         date PRIMARY KEY,
    computed_at timestamptz NOT NULL DEFAULT now(),
    figures     integer NOT NULL CHECK (figures >= 0)
);

CREATE TABLE trend_figures (
    day    date NOT NULL REFERENCES trend_days (day) ON DELETE CASCADE,
    metric text NOT NULL,
    series text NOT NULL,
    value  double precision NOT NULL,
    PRIMARY KEY (day, metric, series)
);
CREATE INDEX trend_figures_metric_idx ON trend_figures (metric, day);

-- Exports read decisions and ledger legs by time: decided submissions by decision time.
CREATE INDEX IF NOT EXISTS submissions_decided_idx ON submissions (decided_at, id) WHERE decided_at IS NOT NULL;
