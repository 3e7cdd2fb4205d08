//! The import contract: the five raw tables, their CSV files and typed columns.
//!
//! One description feeds the importer (header mapping, parsing, validation),
//! the simulator (which writes the same tables) and `cge info`.

/// How a CSV cell is parsed and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// Names, ids and categories: one line, no control characters (a tab or NUL in a
    /// name is a paste accident that breaks the TUI's columns and truncates on read).
    Text,
    /// Free text in a customer's words: tab and line breaks are kept (a quoted CSV
    /// field may span lines); other control characters are errors.
    FreeText,
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
            ColType::Text | ColType::FreeText => "text",
            ColType::Int => "a whole number",
            ColType::Real => "a number",
            ColType::Bool => "a boolean (True/False/true/false/1/0)",
            ColType::Date => "a date YYYY-MM-DD",
            ColType::DateTime => "a date or timestamp YYYY-MM-DD HH:MM:SS",
        }
    }
}

/// What the importer does with a value outside a column's value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// The column drives features (they compare exact spellings): an error that
    /// lists the accepted values.
    Strict,
    /// The column describes the account: the value is kept and counted in one
    /// warning per column.
    Lenient,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    /// Optional in the CSV (absent column means NULL for every row).
    pub optional: bool,
    /// Accepted values in their canonical spelling. Input is trimmed and matched
    /// case-insensitively, and stored in the canonical spelling.
    pub values: Option<(&'static [&'static str], Strictness)>,
    /// Inclusive bounds of a number (`f64::INFINITY` for no upper bound).
    pub range: Option<(f64, f64)>,
}

impl Column {
    const fn set(self, values: &'static [&'static str], strictness: Strictness) -> Self {
        Column {
            values: Some((values, strictness)),
            ..self
        }
    }

    /// Not negative: seats, money, counts, durations.
    const fn non_negative(self) -> Self {
        Column {
            range: Some((0.0, f64::INFINITY)),
            ..self
        }
    }

    const fn between(self, lo: f64, hi: f64) -> Self {
        Column {
            range: Some((lo, hi)),
            ..self
        }
    }

    /// What a valid cell of this column looks like, for error messages.
    pub fn expected(&self) -> String {
        if let Some((values, Strictness::Strict)) = self.values {
            return format!("one of {}", values.join(", "));
        }
        match self.range {
            Some((lo, hi)) if hi.is_infinite() => format!("{} ≥ {lo}", self.ty.expected()),
            Some((lo, hi)) => format!("{} from {lo} to {hi}", self.ty.expected()),
            None => self.ty.expected().to_string(),
        }
    }
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
    /// The date a row happened (signup, start, usage, submission, churn): rows dated
    /// after the data's as-of date are counted as future rows.
    pub event_date: &'static str,
    /// `(later, earlier)`: the date in `later` must not be before the date in `earlier`
    /// (compared by day, so a same-day timestamp is fine).
    pub not_before: &'static [(&'static str, &'static str)],
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
        values: None,
        range: None,
    }
}

const fn null(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        optional: false,
        values: None,
        range: None,
    }
}

const fn opt(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        optional: true,
        values: None,
        range: None,
    }
}

use ColType::*;
use Strictness::*;

pub const ACCOUNTS: Table = Table {
    name: "accounts",
    columns: &[
        req("account_id", Text),
        req("account_name", Text),
        null("industry", Text).set(&values::INDUSTRIES, Lenient),
        null("country", Text).set(&values::COUNTRIES, Lenient),
        req("signup_date", Date),
        null("referral_source", Text).set(&values::REFERRAL_SOURCES, Lenient),
        req("plan_tier", Text).set(&values::PLAN_TIERS, Lenient),
        req("seats", Int).non_negative(),
        req("is_trial", Bool),
        req("churn_flag", Bool),
        // Not in the seed CSVs: the CSM who owns the account.
        opt("owner", Text),
    ],
    id: "account_id",
    unique_id: true,
    event_date: "signup_date",
    not_before: &[],
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
        req("plan_tier", Text).set(&values::PLAN_TIERS, Lenient),
        req("seats", Int).non_negative(),
        req("mrr_amount", Real).non_negative(),
        req("arr_amount", Real).non_negative(),
        req("is_trial", Bool),
        req("upgrade_flag", Bool),
        req("downgrade_flag", Bool),
        req("churn_flag", Bool),
        req("billing_frequency", Text).set(&values::BILLING_FREQUENCIES, Strict),
        req("auto_renew_flag", Bool),
    ],
    id: "subscription_id",
    unique_id: true,
    event_date: "start_date",
    not_before: &[("end_date", "start_date")],
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
        req("usage_count", Int).non_negative(),
        req("usage_duration_secs", Int).non_negative(),
        req("error_count", Int).non_negative(),
        req("is_beta_feature", Bool),
    ],
    id: "usage_id",
    // Real data repeats usage ids on different subscriptions: keep both rows.
    unique_id: false,
    event_date: "usage_date",
    not_before: &[],
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
        null("resolution_time_hours", Real).non_negative(),
        req("priority", Text).set(&values::PRIORITIES, Strict),
        null("first_response_time_minutes", Int).non_negative(),
        null("satisfaction_score", Real).between(1.0, 5.0),
        req("escalation_flag", Bool),
    ],
    id: "ticket_id",
    unique_id: true,
    event_date: "submitted_at",
    not_before: &[("closed_at", "submitted_at")],
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
        req("reason_code", Text).set(&values::REASON_CODES, Lenient),
        null("refund_amount_usd", Real).non_negative(),
        req("preceding_upgrade_flag", Bool),
        req("preceding_downgrade_flag", Bool),
        req("is_reactivation", Bool),
        null("feedback_text", FreeText),
    ],
    id: "churn_event_id",
    unique_id: true,
    event_date: "churn_date",
    not_before: &[],
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

/// The columns whose latest date is the data's as-of date: the last day with activity.
/// Signups, subscription starts and churn dates can run ahead of an export (scheduled
/// or mistyped), so they never move it.
pub const ACTIVITY_DATES: [(&str, &str); 2] = [
    ("feature_usage", "usage_date"),
    ("support_tickets", "submitted_at"),
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Value sets of the contract in their canonical spelling (what `cge simulate` writes;
/// checked in tests). The importer maps other casings to these.
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
