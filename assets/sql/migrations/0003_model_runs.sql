-- Model runs and the scores they gave, keyed by run (never golden-record columns).
-- Derived data: emptied with the other derived tables when the raw data is replaced.

CREATE TABLE model_runs (
    run_id         INTEGER PRIMARY KEY,
    as_of          TEXT NOT NULL,
    horizon_days   INTEGER NOT NULL,
    label_source   TEXT NOT NULL,
    -- The whole report (metrics, curves, importance) as `cge run --json` prints it.
    report_json    TEXT NOT NULL
);

CREATE TABLE account_scores (
    run_id             INTEGER NOT NULL REFERENCES model_runs(run_id) ON DELETE CASCADE,
    account_id         TEXT NOT NULL REFERENCES accounts(account_id),
    churn_probability  REAL NOT NULL,
    churn_rule_score   REAL,
    escalation_probability  REAL,
    crosssell_score    REAL,
    arr                REAL,
    -- {"up": [{"input", "value", "contribution"}...], "down": [...]}
    drivers_json       TEXT NOT NULL,
    -- [{"feature", "affinity"}...]
    offers_json        TEXT NOT NULL,
    map_x              REAL,
    map_y              REAL,
    PRIMARY KEY (run_id, account_id)
) WITHOUT ROWID;
