-- account_scores as a rowid table. As a WITHOUT ROWID table a row of 2–3 KB (the
-- explanations' JSON) kept ~1 KB on its B-tree page and spilled the rest onto an overflow
-- page of its own, mostly empty: 4.5 KB per account and run at 100,000 accounts (4.2 GB
-- for 12 runs). A rowid table keeps rows up to ~4 KB on the page; (run_id, account_id)
-- stays the key, as a unique index.
CREATE TABLE account_scores_rowid (
    run_id             INTEGER NOT NULL REFERENCES model_runs(run_id) ON DELETE CASCADE,
    account_id         TEXT NOT NULL REFERENCES accounts(account_id),
    churn_probability  REAL NOT NULL,
    churn_rule_score   REAL,
    escalation_probability  REAL,
    crosssell_score    REAL,
    arr                REAL,
    -- {"up": [{"input", "value", "words", "contribution"}...], "down": [...]}
    drivers_json       TEXT NOT NULL,
    -- [{"feature", "affinity"}...]
    offers_json        TEXT NOT NULL,
    map_x              REAL,
    map_y              REAL,
    action             TEXT,
    urgent             INTEGER,
    week               INTEGER,
    action_rank        INTEGER,
    arr_at_risk        REAL,
    expected_expansion REAL,
    evidence_json      TEXT,
    contributions_json TEXT,
    change_json        TEXT,
    churn_delta        REAL,
    lookalikes_json    TEXT,
    PRIMARY KEY (run_id, account_id)
);

INSERT INTO account_scores_rowid (
    run_id, account_id, churn_probability, churn_rule_score, escalation_probability,
    crosssell_score, arr, drivers_json, offers_json, map_x, map_y, action, urgent, week,
    action_rank, arr_at_risk, expected_expansion, evidence_json, contributions_json,
    change_json, churn_delta, lookalikes_json
)
SELECT
    run_id, account_id, churn_probability, churn_rule_score, escalation_probability,
    crosssell_score, arr, drivers_json, offers_json, map_x, map_y, action, urgent, week,
    action_rank, arr_at_risk, expected_expansion, evidence_json, contributions_json,
    change_json, churn_delta, lookalikes_json
FROM account_scores
-- Rows of a run or an account no longer there (never read) would fail the foreign keys.
WHERE run_id IN (SELECT run_id FROM model_runs)
  AND account_id IN (SELECT account_id FROM accounts)
ORDER BY run_id, account_id;

DROP TABLE account_scores;
ALTER TABLE account_scores_rowid RENAME TO account_scores;

CREATE INDEX account_scores_account ON account_scores (account_id, run_id);
CREATE INDEX account_scores_view ON account_scores (
    run_id, account_id, churn_probability, churn_delta, escalation_probability,
    crosssell_score, action, urgent, week, action_rank, arr_at_risk, expected_expansion,
    map_x, map_y
);
