-- Run history: what each run was asked and how long its stages took; per account the
-- next best action with its evidence, and the change since the previous run.

-- When the run finished (wall clock: shown in `cge runs`, never used by the data logic).
ALTER TABLE model_runs ADD COLUMN finished_at TEXT;
-- The options and playbook the run used.
ALTER TABLE model_runs ADD COLUMN params_json TEXT NOT NULL DEFAULT '{}';
-- [["stage", seconds], ...] in order.
ALTER TABLE model_runs ADD COLUMN timings_json TEXT NOT NULL DEFAULT '[]';

ALTER TABLE account_scores ADD COLUMN action TEXT;
ALTER TABLE account_scores ADD COLUMN urgent INTEGER;
-- Urgent plays: 0 = this week, k = queued k weeks out by the owner's capacity.
ALTER TABLE account_scores ADD COLUMN week INTEGER;
-- 1-based position in the run's ranked action list.
ALTER TABLE account_scores ADD COLUMN action_rank INTEGER;
ALTER TABLE account_scores ADD COLUMN arr_at_risk REAL;
ALTER TABLE account_scores ADD COLUMN expected_expansion REAL;
-- {"signal", "context", "play", "drivers", "offers", "lookalikes"}
ALTER TABLE account_scores ADD COLUMN evidence_json TEXT;
-- The largest contributions to the churn log-odds: [["input", contribution], ...]
ALTER TABLE account_scores ADD COLUMN contributions_json TEXT;
-- Change since the previous run (NULL: first run, or the account is new):
-- {"previous_run", "churn_before", "action_before", "why": [driver...]}
ALTER TABLE account_scores ADD COLUMN change_json TEXT;
ALTER TABLE account_scores ADD COLUMN churn_delta REAL;

CREATE INDEX account_scores_account ON account_scores (account_id, run_id);
