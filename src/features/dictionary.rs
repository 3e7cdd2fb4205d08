//! The feature dictionary: the one description of every golden-record column.
//!
//! It feeds the golden-record table's schema, the check that the SQL produces
//! exactly these columns, the TUI's detail pane and help, and the README's
//! feature section (`cge features --dictionary`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Account,
    Subscription,
    Usage,
    Support,
    Onboarding,
    CrossSell,
    Risk,
}

impl Group {
    pub const ALL: [Group; 7] = [
        Group::Account,
        Group::Subscription,
        Group::Usage,
        Group::Support,
        Group::Onboarding,
        Group::CrossSell,
        Group::Risk,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Group::Account => "account",
            Group::Subscription => "subscription",
            Group::Usage => "usage",
            Group::Support => "support",
            Group::Onboarding => "onboarding",
            Group::CrossSell => "cross-sell",
            Group::Risk => "risk",
        }
    }
}

/// How a value is stored (SQLite affinity and polars dtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whole number (Int64).
    Int,
    /// Real number (Float64).
    Real,
    /// Category label (String).
    Text,
    /// 0/1 flag (Int64).
    Flag,
}

impl Kind {
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Int | Kind::Flag => "INTEGER",
            Kind::Real => "REAL",
            Kind::Text => "TEXT",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Feature {
    pub name: &'static str,
    pub group: Group,
    pub kind: Kind,
    pub unit: &'static str,
    /// `Some(true)` when a higher value is healthier, `Some(false)` when riskier, `None` when neither.
    pub higher_is_better: Option<bool>,
    pub meaning: &'static str,
}

const fn f(
    name: &'static str,
    group: Group,
    kind: Kind,
    unit: &'static str,
    higher_is_better: Option<bool>,
    meaning: &'static str,
) -> Feature {
    Feature {
        name,
        group,
        kind,
        unit,
        higher_is_better,
        meaning,
    }
}

use Group::*;
use Kind::*;

const UP: Option<bool> = Some(true);
const DOWN: Option<bool> = Some(false);
const NA: Option<bool> = None;

/// Identity columns of each golden-record row (not features; no model reads them).
pub const IDENTITY: [(&str, Kind); 9] = [
    ("account_id", Text),
    ("account_name", Text),
    ("owner", Text),
    ("industry", Text),
    ("country", Text),
    ("plan_tier", Text),
    ("referral_source", Text),
    ("lifecycle_status", Text),
    ("billing_frequency", Text),
];

/// Every feature, in display order within its group.
pub const FEATURES: &[Feature] = &[
    // account
    f(
        "seats",
        Account,
        Int,
        "seats",
        NA,
        "Licensed seats on the subscriptions active at the as-of date.",
    ),
    f(
        "hris_headcount",
        Account,
        Int,
        "people",
        NA,
        "Employees in the customer's HR system (latest monthly snapshot on or before the as-of date); empty when the data has no account signals.",
    ),
    f(
        "managed_devices",
        Account,
        Int,
        "devices",
        NA,
        "Devices the customer manages (latest snapshot); empty without account signals.",
    ),
    f(
        "device_gap",
        Account,
        Int,
        "devices",
        NA,
        "Managed devices minus licensed seats: room to expand when positive.",
    ),
    f(
        "growth_rate_mom",
        Account,
        Real,
        "ratio/month",
        UP,
        "Customer's headcount growth, month over month (latest snapshot).",
    ),
    f(
        "spend_active_users",
        Account,
        Int,
        "users",
        UP,
        "Users active in the product this month per the billing system (latest snapshot).",
    ),
    f(
        "days_since_signup",
        Account,
        Int,
        "days",
        NA,
        "Days from signup to the as-of date.",
    ),
    f(
        "onboarding_phase",
        Account,
        Text,
        "",
        NA,
        "onboarding (first 90 days), adoption (to one year) or mature.",
    ),
    // subscription
    f(
        "active_product_count",
        Subscription,
        Int,
        "subscriptions",
        UP,
        "Subscriptions active at the as-of date (started, not ended).",
    ),
    f(
        "total_mrr",
        Subscription,
        Real,
        "USD/month",
        NA,
        "Monthly recurring revenue of the active subscriptions.",
    ),
    f(
        "total_arr",
        Subscription,
        Real,
        "USD/year",
        NA,
        "Annual recurring revenue of the active subscriptions (12 × MRR).",
    ),
    f(
        "upgrade_count_12m",
        Subscription,
        Int,
        "subscriptions",
        UP,
        "Subscriptions started as upgrades in the 365 days up to the as-of date.",
    ),
    f(
        "downgrade_count_12m",
        Subscription,
        Int,
        "subscriptions",
        DOWN,
        "Subscriptions started as downgrades in the 365 days up to the as-of date.",
    ),
    f(
        "expansion_state",
        Subscription,
        Text,
        "",
        NA,
        "expanding (more upgrades than downgrades in 12 months), contracting (fewer) or stable.",
    ),
    f(
        "mrr_change_90d",
        Subscription,
        Real,
        "USD/month",
        UP,
        "MRR at the as-of date minus MRR 90 days before.",
    ),
    f(
        "days_to_next_renewal",
        Subscription,
        Int,
        "days",
        NA,
        "Days to the next renewal of the oldest active subscription (yearly terms when billed annually, 30-day terms when monthly).",
    ),
    f(
        "auto_renew",
        Subscription,
        Flag,
        "",
        UP,
        "Yes (1) when every active subscription renews automatically, else no (0).",
    ),
    f(
        "seat_utilization",
        Subscription,
        Real,
        "ratio",
        UP,
        "Active users ÷ licensed seats; empty without account signals.",
    ),
    // usage
    f(
        "avg_daily_usage_count",
        Usage,
        Real,
        "events/day",
        UP,
        "Usage events per day over the 30 days up to the as-of date.",
    ),
    f(
        "usage_velocity_7day",
        Usage,
        Real,
        "ratio",
        UP,
        "Trend: usage in the last 7 days vs the 7 days before, as a relative change ((recent − prior) ÷ max(prior, 1)).",
    ),
    f(
        "usage_velocity_30day",
        Usage,
        Real,
        "ratio",
        UP,
        "Trend: usage in the last 30 days vs the 30 days before, as a relative change.",
    ),
    f(
        "active_days_30d",
        Usage,
        Int,
        "days",
        UP,
        "Distinct days with usage in the last 30 days.",
    ),
    f(
        "feature_breadth",
        Usage,
        Int,
        "features",
        UP,
        "Distinct features used in the last 30 days.",
    ),
    f(
        "usage_minutes_30d",
        Usage,
        Real,
        "minutes",
        UP,
        "Time spent in the product in the last 30 days.",
    ),
    f(
        "error_rate",
        Usage,
        Real,
        "errors/event",
        DOWN,
        "Errors per usage event in the last 30 days; empty without usage.",
    ),
    f(
        "days_since_last_activity",
        Usage,
        Int,
        "days",
        DOWN,
        "Days since the last usage on or before the as-of date; empty if never used.",
    ),
    f(
        "engagement_level",
        Usage,
        Text,
        "",
        NA,
        "high (≥ 1.5 events/day), medium (≥ 0.5), low (> 0) or none, over the last 30 days.",
    ),
    // support
    f(
        "total_tickets_90d",
        Support,
        Int,
        "tickets",
        DOWN,
        "Tickets submitted in the 90 days up to the as-of date.",
    ),
    f(
        "high_priority_tickets",
        Support,
        Int,
        "tickets",
        DOWN,
        "Tickets of priority high or urgent submitted in the last 90 days.",
    ),
    f(
        "escalations_90d",
        Support,
        Int,
        "tickets",
        DOWN,
        "Escalated tickets submitted in the last 90 days.",
    ),
    f(
        "open_tickets",
        Support,
        Int,
        "tickets",
        DOWN,
        "Tickets submitted by the as-of date and not closed by its end.",
    ),
    f(
        "oldest_open_ticket_hours",
        Support,
        Real,
        "hours",
        DOWN,
        "Age at the end of the as-of date of the oldest open ticket; empty when none is open.",
    ),
    f(
        "avg_satisfaction",
        Support,
        Real,
        "score 1–5",
        UP,
        "Mean satisfaction score of tickets submitted in the last 90 days; empty when none was rated.",
    ),
    f(
        "avg_first_response_minutes",
        Support,
        Real,
        "minutes",
        DOWN,
        "Mean first-response time of tickets submitted in the last 90 days.",
    ),
    f(
        "escalation_rate",
        Support,
        Real,
        "ratio",
        DOWN,
        "Escalated ÷ submitted tickets in the last 90 days; empty without tickets.",
    ),
    f(
        "escalation_intensity_score",
        Support,
        Real,
        "0–100",
        DOWN,
        "Support strain: 25 per escalation, 10 per high-priority ticket, 5 per open ticket, 2 per ticket in 90 days, +15 when satisfaction averages below 3; capped at 100.",
    ),
    f(
        "escalation_health_status",
        Support,
        Text,
        "",
        NA,
        "critical (intensity ≥ 60), at_risk (≥ 30), watch (≥ 10) or healthy.",
    ),
    // onboarding
    f(
        "onboarding_friction_flag",
        Onboarding,
        Flag,
        "",
        DOWN,
        "Yes (1) when in the first 90 days with 2+ tickets since signup or an error rate of 0.15+, else no (0).",
    ),
    f(
        "quick_win_flag",
        Onboarding,
        Flag,
        "",
        UP,
        "Yes (1) when in the first 90 days, using 3+ features, active in the last 7 days and without high-priority tickets, else no (0).",
    ),
    // cross-sell
    f(
        "crosssell_readiness_score",
        CrossSell,
        Real,
        "0–100",
        UP,
        "Room and appetite to buy more: growth (+25 above 2%/month, +10 above 0), device gap over 20% of seats (+25), seat utilization over 80% (+20), engagement (+15 high, +8 medium), healthy support (+10), expanding (+5).",
    ),
    f(
        "crosssell_readiness_status",
        CrossSell,
        Text,
        "",
        NA,
        "ready (score ≥ 60), warming (≥ 35) or not_ready.",
    ),
    // risk
    f(
        "compound_churn_risk_score",
        Risk,
        Real,
        "0–100",
        DOWN,
        "The rule-based churn risk (the baseline models must beat): engagement none +25 / low +15, 30-day usage down 30%+ +15, idle 15+ days +10 (31+ days +20), support critical +20 / at risk +10, satisfaction below 3 +10, onboarding friction +10, a downgrade in 12 months +10, MRR down in 90 days +5, annual renewal within 60 days +5; capped at 100.",
    ),
];

/// Features that read ticket fields the import contract gives without history: a ticket's
/// priority, escalation flag and first-response time are known only as they stand now, so
/// the value today is used at every as-of date (the ticket's submission date still bounds
/// which tickets count). Everything else is strictly as of the date.
pub const CURRENT_INPUTS: &[(&str, &str)] = &[
    ("high_priority_tickets", "ticket priority"),
    ("escalations_90d", "escalation flag"),
    ("avg_first_response_minutes", "first-response time"),
    ("escalation_rate", "escalation flag"),
    ("escalation_intensity_score", "escalation flag, priority"),
    ("escalation_health_status", "escalation flag, priority"),
    ("quick_win_flag", "ticket priority"),
    (
        "crosssell_readiness_score",
        "escalation flag, priority (via the support status)",
    ),
    (
        "crosssell_readiness_status",
        "escalation flag, priority (via the support status)",
    ),
    (
        "compound_churn_risk_score",
        "escalation flag, priority (via the support status)",
    ),
];

/// Identity columns that are the account's current values (no history in the contract).
pub const CURRENT_IDENTITY: [&str; 5] = [
    "account_name",
    "owner",
    "industry",
    "country",
    "referral_source",
];

/// The inputs of `name` taken as they stand now rather than as of the date, if any.
pub fn current_inputs(name: &str) -> Option<&'static str> {
    CURRENT_INPUTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, inputs)| *inputs)
}

pub fn feature(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// Every column of a golden-record row after `as_of`, in table order.
pub fn columns() -> Vec<(&'static str, Kind)> {
    IDENTITY
        .iter()
        .copied()
        .chain(FEATURES.iter().map(|f| (f.name, f.kind)))
        .collect()
}

/// The dictionary as a Markdown section (README "Feature dictionary").
pub fn markdown() -> String {
    let identity: Vec<String> = CURRENT_IDENTITY.iter().map(|c| format!("`{c}`")).collect();
    let mut out = format!(
        "Every feature is computed from data dated on or before the as-of date, except where \
         the *as of* column says otherwise: the import contract keeps no history of a ticket's \
         priority, escalation flag and first-response time, so those features use the values as \
         they stand now (which tickets count is still bounded by their submission date). The \
         identity columns {} are the account's current values for the same reason.\n",
        identity.join(", ")
    );
    for g in Group::ALL {
        out.push_str(&format!(
            "\n#### {}\n\n| feature | unit | better | as of | meaning |\n|---|---|---|---|---|\n",
            g.label()
        ));
        for f in FEATURES.iter().filter(|f| f.group == g) {
            let better = match f.higher_is_better {
                Some(true) => "higher",
                Some(false) => "lower",
                None => "",
            };
            let as_of = match current_inputs(f.name) {
                Some(inputs) => format!("current {inputs}"),
                None => "yes".to_string(),
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                f.name, f.unit, better, as_of, f.meaning
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_there_are_at_least_30() {
        let names: HashSet<&str> = columns().iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), columns().len());
        assert!(FEATURES.len() >= 30, "{}", FEATURES.len());
        assert!(FEATURES.iter().all(|f| !f.meaning.is_empty()));
    }

    #[test]
    fn current_value_notes_name_real_columns() {
        for (name, inputs) in CURRENT_INPUTS {
            assert!(feature(name).is_some(), "{name} is not a feature");
            assert!(!inputs.is_empty());
        }
        for c in CURRENT_IDENTITY {
            assert!(
                IDENTITY.iter().any(|(n, _)| *n == c),
                "{c} is not an identity column"
            );
        }
    }
}
