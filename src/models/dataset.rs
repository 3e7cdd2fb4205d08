//! What the models learn from: month-end snapshots of the book, their inputs and their labels.
//!
//! A snapshot as of `t` holds the accounts active at `t`, their golden-record features and
//! per-feature usage of the 90 days up to `t` (features use data up to `t` only), and labels
//! from strictly after `t`: churn in `(t, t + H]`, an escalated or urgent ticket in
//! `(t, t + 30]`. Training stacks several month-ends whose label windows have closed by the
//! as-of date; the backtest moves the same design back by the horizon (see [`Plan`]).

use std::collections::HashSet;

use std::borrow::Cow;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, Duration, NaiveDate};
use polars::prelude::*;
use rusqlite::Connection;

use crate::features::GoldenRecord;
use crate::features::dictionary::{self, Kind};
use crate::features::per_feature::FeatureUsage;

/// Days after a snapshot in which an escalated or urgent ticket makes the escalation label.
pub const ESCALATION_DAYS: i64 = 30;

/// The last day of `d`'s month if `d` is that day, else the last day of the month before.
pub fn month_end_on_or_before(d: NaiveDate) -> NaiveDate {
    let first = d.with_day(1).expect("day 1 exists");
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
    .expect("valid month");
    if d == next - Duration::days(1) {
        d
    } else {
        first - Duration::days(1)
    }
}

/// `k` month-ends going back from `start` (itself a month-end), newest first, none before `floor`.
fn month_ends_back(start: NaiveDate, k: usize, floor: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut t = start;
    while out.len() < k && t >= floor {
        out.push(t);
        t = month_end_on_or_before(t.with_day(1).expect("day 1") - Duration::days(1));
    }
    out
}

/// The snapshot dates of a run as of `today` with label horizon `horizon` days.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub today: NaiveDate,
    pub horizon: i64,
    /// The backtest's evaluation snapshot E = the month-end on or before `today - horizon`:
    /// its outcomes are known by today.
    pub eval: NaiveDate,
    /// The backtest model's training snapshots: month-ends t ≤ E − horizon, newest first.
    pub backtest_train: Vec<NaiveDate>,
    /// Today's model's training snapshots: month-ends t ≤ today − horizon, newest first.
    pub train: Vec<NaiveDate>,
}

impl Plan {
    /// Plan `snapshots` training month-ends per model, none before `first_data` plus a month
    /// (a snapshot needs some history behind it).
    pub fn new(
        today: NaiveDate,
        horizon: i64,
        snapshots: usize,
        first_data: NaiveDate,
    ) -> Result<Plan> {
        if horizon < 1 {
            bail!("the horizon must be at least one day, got {horizon}");
        }
        let floor = first_data + Duration::days(30);
        let eval = month_end_on_or_before(today - Duration::days(horizon));
        let train = month_ends_back(eval, snapshots, floor);
        let backtest_start = month_end_on_or_before(eval - Duration::days(horizon));
        let backtest_train = month_ends_back(backtest_start, snapshots, floor);
        if backtest_train.is_empty() {
            bail!(
                "not enough history for a backtest: the data starts {first_data}, and a model as of \
                 {today} with a {horizon}-day horizon needs month-ends with closed outcomes before \
                 {backtest_start}"
            );
        }
        Ok(Plan {
            today,
            horizon,
            eval,
            backtest_train,
            train,
        })
    }

    /// Every date a golden record is needed for, oldest first, without repeats.
    pub fn dates(&self) -> Vec<NaiveDate> {
        let mut d: Vec<NaiveDate> = self
            .train
            .iter()
            .chain(&self.backtest_train)
            .copied()
            .chain([self.eval, self.today])
            .collect();
        d.sort();
        d.dedup();
        d
    }
}

/// Model inputs of one or more snapshots: named columns of equal length, NaN where missing,
/// stored column-major in one buffer — what the booster reads in place and the forest views
/// as a Fortran-order array, so neither copies the training stack.
#[derive(Debug, Clone, Default)]
pub struct Design {
    pub names: Vec<String>,
    data: Vec<f64>,
    rows: usize,
}

impl Design {
    /// A design from named columns of equal length.
    pub fn from_columns(names: Vec<String>, columns: Vec<Vec<f64>>) -> Result<Design> {
        if names.len() != columns.len() {
            bail!("{} names for {} columns", names.len(), columns.len());
        }
        let mut x = Design::default();
        for (name, col) in names.into_iter().zip(columns) {
            x.push_column(name, &col)?;
        }
        Ok(x)
    }

    /// Room for `columns` more columns of `rows` values: a design built column by column
    /// then grows its buffer once, not by doubling (each doubling copied the buffer into
    /// freshly zeroed pages: at 100,000 accounts 3 % of a run's CPU).
    pub fn reserve_columns(&mut self, rows: usize, columns: usize) {
        self.data.reserve_exact(rows * columns);
    }

    /// Add a column; its length must match the columns already there.
    pub fn push_column(&mut self, name: String, values: &[f64]) -> Result<()> {
        if self.names.is_empty() {
            self.rows = values.len();
        } else if values.len() != self.rows {
            bail!("column {name} has {} rows, not {}", values.len(), self.rows);
        }
        self.names.push(name);
        self.data.extend_from_slice(values);
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The values of input `i`.
    pub fn column(&self, i: usize) -> &[f64] {
        &self.data[i * self.rows..(i + 1) * self.rows]
    }

    /// Column-major values, as gradient-boosting crates take them.
    pub fn column_major(&self) -> &[f64] {
        &self.data
    }

    /// The inputs as a rows × columns array view (Fortran order: no copy).
    pub fn view(&self) -> Result<ndarray::ArrayView2<'_, f64>> {
        use ndarray::ShapeBuilder;
        Ok(ndarray::ArrayView2::from_shape(
            (self.rows, self.names.len()).f(),
            &self.data,
        )?)
    }

    /// Several designs' rows one after another; their columns must be the same, in order.
    pub fn stack(parts: &[&Design]) -> Result<Design> {
        Self::stack_parts(parts.iter().map(|&d| Cow::Borrowed(d)).collect())
    }

    /// [`Design::stack`] of borrowed and owned parts, each owned part freed as soon as its
    /// rows are copied: stacking month-ends that are not needed after it costs no more
    /// memory than the stack itself (at 100,000 accounts a month-end's inputs are ~85 MB).
    pub fn stack_parts(parts: Vec<Cow<'_, Design>>) -> Result<Design> {
        let Some(first) = parts.first() else {
            return Ok(Design::default());
        };
        if parts.iter().any(|d| d.names != first.names) {
            bail!("snapshots disagree on the model inputs");
        }
        let names = first.names.clone();
        let rows: usize = parts.iter().map(|d| d.rows).sum();
        // Zeroed pages are only touched as rows are copied in.
        let mut data = vec![0.0; rows * names.len()];
        let mut start = 0;
        for d in parts {
            for i in 0..names.len() {
                let at = i * rows + start;
                data[at..at + d.rows].copy_from_slice(d.column(i));
            }
            start += d.rows;
        }
        Ok(Design { names, data, rows })
    }

    /// Rows `idx` of this design.
    pub fn take(&self, idx: &[usize]) -> Design {
        let mut data = Vec::with_capacity(idx.len() * self.names.len());
        for i in 0..self.names.len() {
            let c = self.column(i);
            data.extend(idx.iter().map(|&r| c[r]));
        }
        Design {
            names: self.names.clone(),
            data,
            rows: idx.len(),
        }
    }
}

/// One month-end (or today): the active accounts, their inputs and what the rules said.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub as_of: NaiveDate,
    pub account_ids: Vec<String>,
    pub x: Design,
    /// The rule-based churn score (`compound_churn_risk_score`): the baseline to beat.
    pub rule_churn: Vec<f64>,
    /// The rule-based support-strain score (`escalation_intensity_score`).
    pub rule_escalation: Vec<f64>,
    /// Annual recurring revenue at the snapshot.
    pub arr: Vec<f64>,
}

/// Category codes for the record's text columns: ordered where the categories are ordered.
fn text_codes(column: &str) -> Option<&'static [&'static str]> {
    Some(match column {
        "onboarding_phase" => &["onboarding", "adoption", "mature"],
        "expansion_state" => &["contracting", "stable", "expanding"],
        "engagement_level" => &["none", "low", "medium", "high"],
        "escalation_health_status" => &["healthy", "watch", "at_risk", "critical"],
        "crosssell_readiness_status" => &["not_ready", "warming", "ready"],
        "plan_tier" => &["Basic", "Pro", "Enterprise"],
        "billing_frequency" => &["monthly", "annual"],
        _ => return None,
    })
}

/// Identity columns that enter the model as one-hot indicators (the account's segment).
const ONE_HOT: [(&str, &[&str]); 2] = [
    ("industry", &crate::workspace::contract::values::INDUSTRIES),
    (
        "referral_source",
        &crate::workspace::contract::values::REFERRAL_SOURCES,
    ),
];

fn f64_column(frame: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = anyhow::Context::with_context(frame.column(name), || {
        format!("the golden record has no column {name}")
    })?
    .cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn str_column(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(frame
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

impl Snapshot {
    /// The active accounts of `record` with their inputs: every numeric feature, ordered codes
    /// for category features, segment indicators, and log(1 + usage) and log(1 + errors) per
    /// product feature named in `features` (the same columns for every snapshot of a run).
    pub fn build(
        record: &GoldenRecord,
        usage: &FeatureUsage,
        features: &[String],
    ) -> Result<Snapshot> {
        let mut s = Snapshot::from_record(record)?;
        s.add_usage(usage, features)?;
        Ok(s)
    }

    /// The active accounts of `record` with the record's inputs only (see [`Self::build`]):
    /// the record can be dropped before the usage matrices are ready.
    pub fn from_record(record: &GoldenRecord) -> Result<Snapshot> {
        let frame = &record.frame;
        let status = str_column(frame, "lifecycle_status")?;
        let ids = str_column(frame, "account_id")?;
        let keep: Vec<usize> = (0..frame.height())
            .filter(|&i| status[i].as_deref() == Some("active"))
            .collect();
        let pick = |v: &[f64]| -> Vec<f64> { keep.iter().map(|&i| v[i]).collect() };

        // Every dictionary feature, the rule scores included: a model that starts from the
        // rules must still beat them on held-out outcomes.
        let mut x = Design::default();
        let one_hot: usize = ONE_HOT.iter().map(|(_, values)| values.len()).sum();
        x.reserve_columns(keep.len(), dictionary::FEATURES.len() + 2 + one_hot);
        for f in dictionary::FEATURES {
            let values = if f.kind == Kind::Text {
                let Some(codes) = text_codes(f.name) else {
                    continue;
                };
                encode(&str_column(frame, f.name)?, codes)
            } else {
                f64_column(frame, f.name)?
            };
            x.push_column(f.name.to_string(), &pick(&values))?;
        }
        for name in ["plan_tier", "billing_frequency"] {
            let codes = text_codes(name).expect("coded identity column");
            x.push_column(
                name.to_string(),
                &pick(&encode(&str_column(frame, name)?, codes)),
            )?;
        }
        for (name, values) in ONE_HOT {
            let col = str_column(frame, name)?;
            for v in values {
                let indicator: Vec<f64> = keep
                    .iter()
                    .map(|&i| f64::from(u8::from(col[i].as_deref() == Some(*v))))
                    .collect();
                x.push_column(format!("{name}={v}"), &indicator)?;
            }
        }
        Ok(Snapshot {
            as_of: record.as_of,
            rule_churn: pick(&f64_column(frame, "compound_churn_risk_score")?),
            rule_escalation: pick(&f64_column(frame, "escalation_intensity_score")?),
            arr: pick(&f64_column(frame, "total_arr")?),
            account_ids: keep
                .iter()
                .map(|&i| ids[i].clone().unwrap_or_default())
                .collect(),
            x,
        })
    }

    /// Append log(1 + usage) and log(1 + errors) per product feature in `features`, aligned
    /// by name: a product feature unseen in the window is zero.
    pub fn add_usage(&mut self, usage: &FeatureUsage, features: &[String]) -> Result<()> {
        let rows: Vec<Option<usize>> = self.account_ids.iter().map(|a| usage.row_of(a)).collect();
        self.x.reserve_columns(rows.len(), 2 * features.len());
        for (prefix, values) in [("use90", &usage.counts), ("err90", &usage.errors)] {
            for f in features {
                let col = usage.features.iter().position(|u| u == f);
                let column: Vec<f64> = rows
                    .iter()
                    .map(|r| match (r, col) {
                        (Some(r), Some(c)) => values[r * usage.n_features() + c].ln_1p(),
                        _ => 0.0,
                    })
                    .collect();
                self.x.push_column(format!("{prefix}:{f}"), &column)?;
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.account_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.account_ids.is_empty()
    }
}

/// An input's name in words, without a value (feature importance): "days since last
/// activity", "use of feature_7 (90 days)", "errors in feature_38 (90 days)", "plan tier:
/// Pro".
pub fn label(input: &str) -> String {
    if let Some(feature) = input.strip_prefix("use90:") {
        return format!("use of {feature} (90 days)");
    }
    if let Some(feature) = input.strip_prefix("err90:") {
        return format!("errors in {feature} (90 days)");
    }
    if let Some((name, category)) = input.split_once('=') {
        return format!("{}: {}", name.replace('_', " "), category.replace('_', " "));
    }
    input.replace('_', " ")
}

/// An input and its value in words a CSM can read aloud, from the feature dictionary:
/// "days since last activity: 35 days", "engagement level: low", "feature_7 used 12 times
/// in 90 days", "3 errors in feature_38 in 90 days".
pub fn describe(input: &str, value: f64) -> String {
    let readable = |name: &str| name.replace('_', " ");
    if let Some(feature) = input.strip_prefix("use90:") {
        return format!(
            "{feature} used {:.0} times in 90 days",
            value.exp_m1().max(0.0)
        );
    }
    if let Some(feature) = input.strip_prefix("err90:") {
        return format!(
            "{:.0} errors in {feature} in 90 days",
            value.exp_m1().max(0.0)
        );
    }
    if let Some((name, category)) = input.split_once('=') {
        let yes = if value >= 0.5 { "yes" } else { "no" };
        return format!("{} {category}: {yes}", readable(name));
    }
    if value.is_nan() {
        return format!("{}: unknown", readable(input));
    }
    if let Some(codes) = text_codes(input) {
        let category = codes.get(value.round() as usize).copied().unwrap_or("?");
        return format!("{}: {}", readable(input), category.replace('_', " "));
    }
    let Some(f) = dictionary::feature(input) else {
        return format!("{}: {value}", readable(input));
    };
    let number = match f.kind {
        Kind::Int | Kind::Flag => format!("{value:.0}"),
        _ if value.abs() >= 100.0 => format!("{value:.0}"),
        _ => format!("{value:.2}"),
    };
    match (f.kind, f.unit) {
        (Kind::Flag, _) => format!(
            "{}: {}",
            readable(input),
            if value >= 0.5 { "yes" } else { "no" }
        ),
        (_, "") => format!("{}: {number}", readable(input)),
        (_, unit) => format!("{}: {number} {unit}", readable(input)),
    }
}

fn encode(values: &[Option<String>], codes: &[&str]) -> Vec<f64> {
    values
        .iter()
        .map(|v| {
            v.as_deref()
                .and_then(|v| codes.iter().position(|c| *c == v))
                .map_or(f64::NAN, |i| i as f64)
        })
        .collect()
}

fn account_set(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Where churn labels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSource {
    /// Dated churn events (and, for accounts without any event, the end of their last
    /// subscription): labels strictly after each snapshot.
    ChurnEvents,
    /// `accounts.churn_flag`: one undated label per account, scored out of fold.
    ChurnFlag,
}

/// `accounts.churn_flag` per account (undated).
pub fn churn_flags(conn: &Connection, accounts: &[String]) -> Result<Vec<bool>> {
    let flagged = account_set(
        conn,
        "SELECT account_id FROM accounts WHERE churn_flag = 1",
        &[],
    )?;
    Ok(accounts.iter().map(|a| flagged.contains(a)).collect())
}

/// Whether dated churn events can be trusted as labels: after a real churn the account goes
/// quiet. Returns the share of churn events followed by product usage more than 30 days
/// later (reactivations aside); the original notebook's CSVs, whose events are random,
/// score high here, a simulated or real world low.
pub fn churn_events_followed_by_usage(conn: &Connection) -> Result<Option<f64>> {
    let (events, followed): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(EXISTS (
                SELECT 1 FROM subscriptions s JOIN feature_usage u ON u.subscription_id = s.subscription_id
                WHERE s.account_id = c.account_id AND u.usage_date > date(c.churn_date, '+30 days')
                  AND NOT EXISTS (SELECT 1 FROM churn_events r WHERE r.account_id = c.account_id
                                  AND r.is_reactivation = 1 AND r.churn_date > c.churn_date))), 0)
         FROM churn_events c",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((events > 0).then(|| followed as f64 / events as f64))
}

/// The earliest date in the data (signups, subscriptions, usage, tickets).
pub fn first_data_date(conn: &Connection) -> Result<NaiveDate> {
    let d: Option<String> = conn.query_row(
        "SELECT min(d) FROM (SELECT min(signup_date) AS d FROM accounts
                             UNION ALL SELECT min(start_date) FROM subscriptions
                             UNION ALL SELECT min(usage_date) FROM feature_usage)",
        [],
        |r| r.get(0),
    )?;
    let d = d.context("the workspace holds no data")?;
    crate::workspace::dates::parse_date(&d).with_context(|| format!("date {d:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn stacking_puts_rows_one_after_another_column_by_column() {
        let names = || vec!["a".to_string(), "b".to_string()];
        let one = Design::from_columns(names(), vec![vec![1.0, 2.0], vec![10.0, 20.0]]).unwrap();
        let two = Design::from_columns(names(), vec![vec![3.0], vec![30.0]]).unwrap();
        let three = Design::from_columns(names(), vec![vec![4.0, 5.0], vec![40.0, 50.0]]).unwrap();
        let x = Design::stack_parts(vec![
            Cow::Borrowed(&one),
            Cow::Owned(two.clone()),
            Cow::Borrowed(&three),
        ])
        .unwrap();
        assert_eq!(x.rows(), 5);
        assert_eq!(x.column(0), [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(x.column(1), [10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(
            Design::stack(&[&one, &two, &three]).unwrap().column_major(),
            x.column_major()
        );
        let other = Design::from_columns(vec!["c".into(), "b".into()], vec![vec![1.0], vec![2.0]]);
        assert!(Design::stack(&[&one, &other.unwrap()]).is_err());
    }

    #[test]
    fn input_names_in_words() {
        assert_eq!(label("use90:feature_7"), "use of feature_7 (90 days)");
        assert_eq!(label("err90:feature_38"), "errors in feature_38 (90 days)");
        assert_eq!(label("plan_tier=Pro"), "plan tier: Pro");
        assert_eq!(
            label("days_since_last_activity"),
            "days since last activity"
        );
    }

    #[test]
    fn inputs_in_words() {
        assert_eq!(
            describe("use90:feature_7", 12f64.ln_1p()),
            "feature_7 used 12 times in 90 days"
        );
        assert_eq!(
            describe("err90:feature_38", 3f64.ln_1p()),
            "3 errors in feature_38 in 90 days"
        );
        assert_eq!(describe("engagement_level", 1.0), "engagement level: low");
        assert_eq!(
            describe("escalation_health_status", 3.0),
            "escalation health status: critical"
        );
        assert_eq!(describe("plan_tier", 2.0), "plan tier: Enterprise");
        assert_eq!(describe("industry=FinTech", 1.0), "industry FinTech: yes");
        assert_eq!(
            describe("avg_satisfaction", f64::NAN),
            "avg satisfaction: unknown"
        );
        assert_eq!(describe("quick_win_flag", 0.0), "quick win flag: no");
        let idle = describe("days_since_last_activity", 35.0);
        assert!(idle.starts_with("days since last activity: 35"), "{idle}");
    }

    #[test]
    fn month_ends() {
        assert_eq!(
            month_end_on_or_before(date("2026-10-31")),
            date("2026-10-31")
        );
        assert_eq!(
            month_end_on_or_before(date("2026-10-30")),
            date("2026-09-30")
        );
        assert_eq!(
            month_end_on_or_before(date("2024-03-01")),
            date("2024-02-29")
        );
        assert_eq!(
            month_end_on_or_before(date("2025-01-15")),
            date("2024-12-31")
        );
    }

    #[test]
    fn plan_moves_the_design_back_by_the_horizon() {
        let p = Plan::new(date("2026-10-31"), 90, 6, date("2024-11-01")).unwrap();
        // 2026-10-31 − 90 days = 2026-08-02 → E = 2026-07-31; E − 90 = 2026-05-02 → 2026-04-30.
        assert_eq!(p.eval, date("2026-07-31"));
        assert_eq!(
            p.train,
            [
                "2026-07-31",
                "2026-06-30",
                "2026-05-31",
                "2026-04-30",
                "2026-03-31",
                "2026-02-28"
            ]
            .map(date)
        );
        assert_eq!(p.backtest_train[0], date("2026-04-30"));
        assert_eq!(p.backtest_train[5], date("2025-11-30"));
        // Every training window closes before the day its model is used on.
        assert!(p.train.iter().all(|t| *t + Duration::days(90) <= p.today));
        assert!(
            p.backtest_train
                .iter()
                .all(|t| *t + Duration::days(90) <= p.eval)
        );
        assert_eq!(p.dates().len(), 6 + 3 + 1);
        // Short history: fewer snapshots, and none at all is an error that says why.
        let short = Plan::new(date("2026-10-31"), 90, 6, date("2025-12-15")).unwrap();
        assert_eq!(
            short.backtest_train,
            ["2026-04-30", "2026-03-31", "2026-02-28", "2026-01-31"].map(date)
        );
        assert!(Plan::new(date("2026-10-31"), 90, 6, date("2026-04-15")).is_err());
    }
}
