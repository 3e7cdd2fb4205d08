-- Raw tables of the import contract (shared/seed-data/SCHEMA.md).
-- Booleans are INTEGER 0/1, dates ISO-8601 TEXT, money REAL.

CREATE TABLE accounts (
    account_id       TEXT PRIMARY KEY NOT NULL,
    account_name     TEXT NOT NULL,
    industry         TEXT,
    country          TEXT,
    signup_date      TEXT NOT NULL,
    referral_source  TEXT,
    plan_tier        TEXT NOT NULL,
    seats            INTEGER NOT NULL,
    is_trial         INTEGER NOT NULL CHECK (is_trial IN (0, 1)),
    churn_flag       INTEGER NOT NULL CHECK (churn_flag IN (0, 1)),
    owner            TEXT
);
CREATE INDEX accounts_owner ON accounts(owner);

CREATE TABLE subscriptions (
    subscription_id    TEXT PRIMARY KEY NOT NULL,
    account_id         TEXT NOT NULL REFERENCES accounts(account_id),
    start_date         TEXT NOT NULL,
    end_date           TEXT,
    plan_tier          TEXT NOT NULL,
    seats              INTEGER NOT NULL,
    mrr_amount         REAL NOT NULL,
    arr_amount         REAL NOT NULL,
    is_trial           INTEGER NOT NULL CHECK (is_trial IN (0, 1)),
    upgrade_flag       INTEGER NOT NULL CHECK (upgrade_flag IN (0, 1)),
    downgrade_flag     INTEGER NOT NULL CHECK (downgrade_flag IN (0, 1)),
    churn_flag         INTEGER NOT NULL CHECK (churn_flag IN (0, 1)),
    billing_frequency  TEXT NOT NULL,
    auto_renew_flag    INTEGER NOT NULL CHECK (auto_renew_flag IN (0, 1))
);
CREATE INDEX subscriptions_account ON subscriptions(account_id, start_date);
CREATE INDEX subscriptions_end ON subscriptions(end_date);

-- usage_id is not unique in real data: the rowid is the key.
CREATE TABLE feature_usage (
    usage_id             TEXT NOT NULL,
    subscription_id      TEXT NOT NULL REFERENCES subscriptions(subscription_id),
    usage_date           TEXT NOT NULL,
    feature_name         TEXT NOT NULL,
    usage_count          INTEGER NOT NULL,
    usage_duration_secs  INTEGER NOT NULL,
    error_count          INTEGER NOT NULL,
    is_beta_feature      INTEGER NOT NULL CHECK (is_beta_feature IN (0, 1))
);
CREATE INDEX feature_usage_subscription_date ON feature_usage(subscription_id, usage_date);
CREATE INDEX feature_usage_date ON feature_usage(usage_date);

CREATE TABLE support_tickets (
    ticket_id                    TEXT PRIMARY KEY NOT NULL,
    account_id                   TEXT NOT NULL REFERENCES accounts(account_id),
    submitted_at                 TEXT NOT NULL,
    closed_at                    TEXT,
    resolution_time_hours        REAL,
    priority                     TEXT NOT NULL,
    first_response_time_minutes  INTEGER,
    satisfaction_score           REAL,
    escalation_flag              INTEGER NOT NULL CHECK (escalation_flag IN (0, 1))
);
CREATE INDEX support_tickets_account_date ON support_tickets(account_id, submitted_at);

CREATE TABLE churn_events (
    churn_event_id            TEXT PRIMARY KEY NOT NULL,
    account_id                TEXT NOT NULL REFERENCES accounts(account_id),
    churn_date                TEXT NOT NULL,
    reason_code               TEXT NOT NULL,
    refund_amount_usd         REAL,
    preceding_upgrade_flag    INTEGER NOT NULL CHECK (preceding_upgrade_flag IN (0, 1)),
    preceding_downgrade_flag  INTEGER NOT NULL CHECK (preceding_downgrade_flag IN (0, 1)),
    is_reactivation           INTEGER NOT NULL CHECK (is_reactivation IN (0, 1)),
    feedback_text             TEXT
);
CREATE INDEX churn_events_account_date ON churn_events(account_id, churn_date);
