//! The import contract: the five raw tables, their CSV files and typed columns.
//!
//! One description feeds the importer (header mapping, parsing, validation),
//! the simulator (which writes the same tables) and `cge info`.

/// How a CSV cell is parsed and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    /// Stored as INTEGER.
    Int,
    /// Stored as REAL (money, hours, scores).
    Real,
    /// `True/False/true/false/1/0`, stored as INTEGER 0/1.
    Bool,
    /// ISO-8601 `YYYY-MM-DD` TEXT. A timestamp is accepted and its date kept.
    Date,
    /// ISO-8601 `YYYY-MM-DD HH:MM:SS` TEXT. A bare date means midnight.
    DateTime,
}

impl ColType {
    pub fn expected(self) -> &'static str {
        match self {
            ColType::Text => "text",
            ColType::Int => "a whole number",
            ColType::Real => "a number",
            ColType::Bool => "a boolean (True/False/true/false/1/0)",
            ColType::Date => "a date YYYY-MM-DD",
            ColType::DateTime => "a date or timestamp YYYY-MM-DD HH:MM:SS",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    /// Optional in the CSV (absent column means NULL for every row).
    pub optional: bool,
}

/// A column whose value must name a row of another table.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    pub column: &'static str,
    pub table: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The id column. `unique` says whether the contract requires it unique.
    pub id: &'static str,
    pub unique_id: bool,
    pub references: &'static [Reference],
    /// Columns holding the table's dates, for `cge info` date ranges.
    pub date_columns: &'static [&'static str],
}

impl Table {
    pub fn file_name(&self) -> String {
        format!("{}.csv", self.name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn req(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        optional: false,
    }
}

const fn null(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        optional: false,
    }
}

const fn opt(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        optional: true,
    }
}

use ColType::*;

pub const ACCOUNTS: Table = Table {
    name: "accounts",
    columns: &[
        req("account_id", Text),
        req("account_name", Text),
        null("industry", Text),
        null("country", Text),
        req("signup_date", Date),
        null("referral_source", Text),
        req("plan_tier", Text),
        req("seats", Int),
        req("is_trial", Bool),
        req("churn_flag", Bool),
        // Not in the seed CSVs: the CSM who owns the account.
        opt("owner", Text),
    ],
    id: "account_id",
    unique_id: true,
    references: &[],
    date_columns: &["signup_date"],
};

pub const SUBSCRIPTIONS: Table = Table {
    name: "subscriptions",
    columns: &[
        req("subscription_id", Text),
        req("account_id", Text),
        req("start_date", Date),
        null("end_date", Date),
        req("plan_tier", Text),
        req("seats", Int),
        req("mrr_amount", Real),
        req("arr_amount", Real),
        req("is_trial", Bool),
        req("upgrade_flag", Bool),
        req("downgrade_flag", Bool),
        req("churn_flag", Bool),
        req("billing_frequency", Text),
        req("auto_renew_flag", Bool),
    ],
    id: "subscription_id",
    unique_id: true,
    references: &[Reference {
        column: "account_id",
        table: "accounts",
    }],
    date_columns: &["start_date", "end_date"],
};

pub const FEATURE_USAGE: Table = Table {
    name: "feature_usage",
    columns: &[
        req("usage_id", Text),
        req("subscription_id", Text),
        req("usage_date", Date),
        req("feature_name", Text),
        req("usage_count", Int),
        req("usage_duration_secs", Int),
        req("error_count", Int),
        req("is_beta_feature", Bool),
    ],
    id: "usage_id",
    // Real data repeats usage ids on different subscriptions: keep both rows.
    unique_id: false,
    references: &[Reference {
        column: "subscription_id",
        table: "subscriptions",
    }],
    date_columns: &["usage_date"],
};

pub const SUPPORT_TICKETS: Table = Table {
    name: "support_tickets",
    columns: &[
        req("ticket_id", Text),
        req("account_id", Text),
        req("submitted_at", Date),
        null("closed_at", DateTime),
        null("resolution_time_hours", Real),
        req("priority", Text),
        null("first_response_time_minutes", Int),
        null("satisfaction_score", Real),
        req("escalation_flag", Bool),
    ],
    id: "ticket_id",
    unique_id: true,
    references: &[Reference {
        column: "account_id",
        table: "accounts",
    }],
    date_columns: &["submitted_at", "closed_at"],
};

pub const CHURN_EVENTS: Table = Table {
    name: "churn_events",
    columns: &[
        req("churn_event_id", Text),
        req("account_id", Text),
        req("churn_date", Date),
        req("reason_code", Text),
        null("refund_amount_usd", Real),
        req("preceding_upgrade_flag", Bool),
        req("preceding_downgrade_flag", Bool),
        req("is_reactivation", Bool),
        null("feedback_text", Text),
    ],
    id: "churn_event_id",
    unique_id: true,
    references: &[Reference {
        column: "account_id",
        table: "accounts",
    }],
    date_columns: &["churn_date"],
};

/// Parents before children: the order of import and of `--replace` inserts.
pub const TABLES: [Table; 5] = [
    ACCOUNTS,
    SUBSCRIPTIONS,
    FEATURE_USAGE,
    SUPPORT_TICKETS,
    CHURN_EVENTS,
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Value sets of the contract (what `cge simulate` writes; checked in tests).
pub mod values {
    pub const PLAN_TIERS: [&str; 3] = ["Basic", "Pro", "Enterprise"];
    pub const INDUSTRIES: [&str; 5] = [
        "DevTools",
        "FinTech",
        "Cybersecurity",
        "HealthTech",
        "EdTech",
    ];
    pub const COUNTRIES: [&str; 7] = ["US", "UK", "IN", "AU", "DE", "CA", "FR"];
    pub const REFERRAL_SOURCES: [&str; 5] = ["organic", "other", "ads", "event", "partner"];
    pub const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];
    pub const BILLING_FREQUENCIES: [&str; 2] = ["monthly", "annual"];
    pub const REASON_CODES: [&str; 6] = [
        "features",
        "support",
        "budget",
        "unknown",
        "competitor",
        "pricing",
    ];
    pub const FEEDBACK_TEXTS: [&str; 3] = [
        "too expensive",
        "missing features",
        "switched to competitor",
    ];
    pub const FEATURE_COUNT: usize = 40;
}
