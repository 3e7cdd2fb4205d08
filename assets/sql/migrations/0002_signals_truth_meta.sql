-- Extra account signals (not in the import contract: imported data may lack them),
-- the simulator's ground truth (never read by features or models), and workspace metadata.

-- Monthly snapshots, so features can take the latest one on or before the as-of date.
CREATE TABLE account_signals (
    account_id          TEXT NOT NULL REFERENCES accounts(account_id),
    snapshot_date       TEXT NOT NULL,
    hris_headcount      INTEGER,
    managed_devices     INTEGER,
    growth_rate_mom     REAL,
    spend_active_users  INTEGER,
    PRIMARY KEY (account_id, snapshot_date)
) WITHOUT ROWID;

-- For each active account at each month-end: the true probability of churning in the
-- next 90 days, of an escalated ticket in the next 90 days, and of an expansion.
CREATE TABLE sim_truth (
    account_id                  TEXT NOT NULL REFERENCES accounts(account_id),
    month_end                   TEXT NOT NULL,
    latent_health               REAL NOT NULL,
    churn_hazard_90d            REAL NOT NULL,
    escalation_propensity_90d   REAL NOT NULL,
    expansion_propensity_90d    REAL NOT NULL,
    PRIMARY KEY (account_id, month_end)
) WITHOUT ROWID;

CREATE TABLE meta (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
) WITHOUT ROWID;
