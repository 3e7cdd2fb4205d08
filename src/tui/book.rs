//! The book of accounts the TUI shows: the golden-record frame (polars) of active
//! accounts joined with a stored run's scores and actions (when there is one), and a view
//! over it — filters and a sort — kept as a row-index order. Rows are formatted only for
//! the slice on screen.

use anyhow::Result;
use polars::prelude::*;

use crate::features::GoldenRecord;
use crate::features::dictionary::Kind;
use crate::pipeline::stored::{SCORE_COLUMNS, StoredRun};

/// How a column's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Text,
    Int,
    Money,
    Score,
    Trend,
    /// A probability as a whole percent.
    Percent,
    /// The churn probability as a percent, with ▲/▼ for its change since the previous run.
    Churn,
}

/// A column of the accounts table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub key: &'static str,
    pub title: &'static str,
    pub width: u16,
    /// The direction a first sort on this column takes (risk and money: descending).
    pub descending_first: bool,
    pub fmt: Fmt,
    /// Ordinal order of a category column (low to high), instead of alphabetical.
    pub ranks: &'static [&'static str],
    /// From a model run: hidden while the book shows rule scores only.
    pub model: bool,
}

const fn c(
    key: &'static str,
    title: &'static str,
    width: u16,
    descending_first: bool,
    fmt: Fmt,
) -> ColumnSpec {
    ColumnSpec {
        key,
        title,
        width,
        descending_first,
        fmt,
        ranks: &[],
        model: false,
    }
}

/// A column of a model run's.
const fn m(
    key: &'static str,
    title: &'static str,
    width: u16,
    descending_first: bool,
    fmt: Fmt,
) -> ColumnSpec {
    ColumnSpec {
        model: true,
        ..c(key, title, width, descending_first, fmt)
    }
}

const fn ranked(
    key: &'static str,
    title: &'static str,
    width: u16,
    ranks: &'static [&'static str],
) -> ColumnSpec {
    ColumnSpec {
        key,
        title,
        width,
        descending_first: true,
        fmt: Fmt::Text,
        ranks,
        model: false,
    }
}

pub const ENGAGEMENT: &[&str] = &["none", "low", "medium", "high"];
pub const ESCALATION: &[&str] = &["healthy", "watch", "at_risk", "critical"];
pub const CROSSSELL: &[&str] = &["not_ready", "warming", "ready"];
pub const PLANS: &[&str] = &["Basic", "Pro", "Enterprise"];

/// The accounts table, left to right, by what a CSM needs first: who (frozen while the
/// table scrolls sideways), how risky, how much is at stake, when it renews, what to do,
/// how support and usage go; then the rest.
pub const COLUMNS: &[ColumnSpec] = &[
    c("account_name", "Account", 22, false, Fmt::Text),
    m("churn_probability", "Churn", 6, true, Fmt::Churn),
    c("compound_churn_risk_score", "Rule", 5, true, Fmt::Score),
    c("total_arr", "ARR", 7, true, Fmt::Money),
    m("arr_at_risk", "AtRisk", 7, true, Fmt::Money),
    c("days_to_next_renewal", "Renew", 5, false, Fmt::Int),
    m("next_best_action", "Action", 19, false, Fmt::Text),
    ranked("escalation_health_status", "Support", 8, ESCALATION),
    c("usage_velocity_30day", "Trend", 6, false, Fmt::Trend),
    c("owner", "Owner", 13, false, Fmt::Text),
    m("escalation_probability", "Esc", 4, true, Fmt::Percent),
    m("crosssell_score", "XSell", 5, true, Fmt::Percent),
    c("crosssell_readiness_score", "Ready", 5, true, Fmt::Score),
    ranked("engagement_level", "Engage", 7, ENGAGEMENT),
    c("billing_frequency", "Billing", 7, false, Fmt::Text),
    ranked("plan_tier", "Plan", 10, PLANS),
    c("open_tickets", "Open", 5, true, Fmt::Int),
    c("high_priority_tickets", "HiPri", 6, true, Fmt::Int),
    c("industry", "Industry", 13, false, Fmt::Text),
];

/// What a column holds, with its unit, for the help's legend: the model's columns in
/// words here, the golden record's from the feature dictionary.
pub fn legend(spec: &ColumnSpec) -> String {
    let text = match spec.key {
        "account_name" => "the account (stays on screen while the table scrolls sideways)",
        "churn_probability" => {
            "calibrated probability of churning in the next 90 days, % (▲▼: moved ≥ 1 point since the last run)"
        }
        "compound_churn_risk_score" => {
            "rule-based churn risk, 0–100 points (the baseline the model must beat; the detail lists the rules that fired)"
        }
        "arr_at_risk" => "expected ARR lost to churn = churn probability × ARR, $",
        "next_best_action" => "what to do now, from the playbook (URGENT: … first)",
        "escalation_probability" => {
            "probability of an escalated or urgent ticket in the next 30 days, %"
        }
        "crosssell_score" => "propensity to buy a feature it does not use yet, %",
        "crosssell_readiness_score" => "rule-based cross-sell readiness, 0–100 points",
        "usage_velocity_30day" => {
            "usage in the last 30 days vs the 30 before, % change (↑999% caps a rise over tenfold; → within ±5 %; — no usage in either)"
        }
        "escalation_health_status" => "support health: healthy < watch < at_risk < critical",
        "engagement_level" => "engagement: none < low < medium < high",
        "owner" => "the CSM who owns the account",
        "billing_frequency" => "monthly or annual billing",
        "plan_tier" => "plan: Basic < Pro < Enterprise",
        "industry" => "the account's industry",
        key => {
            return crate::features::dictionary::feature(key).map_or_else(
                || key.replace('_', " "),
                |f| match f.unit {
                    "" => f.meaning.to_string(),
                    unit => format!("{} ({unit})", f.meaning.trim_end_matches('.')),
                },
            );
        }
    };
    text.to_string()
}

/// The column a book sorts by until the user chooses: ARR at risk from a run, else the
/// rule-based churn risk.
pub fn default_sort(scored: bool) -> (usize, bool) {
    let key = if scored {
        "arr_at_risk"
    } else {
        "compound_churn_risk_score"
    };
    (COLUMNS.iter().position(|c| c.key == key).unwrap_or(0), true)
}

/// One stackable filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Equals {
        column: &'static str,
        label: &'static str,
        value: String,
    },
    /// Annual contracts renewing within this many days (monthly billing renews every month,
    /// so it is no renewal to prepare for).
    RenewalWithin(i64),
    /// Churn probability at least this (0–1).
    ChurnAtLeast(f64),
    /// A number column at least (or at most) a value: "ARR ≥ $100.0k", "Renew ≤ 30".
    Compare {
        column: &'static str,
        label: &'static str,
        at_least: bool,
        value: f64,
        fmt: Fmt,
    },
}

impl Filter {
    pub fn describe(&self) -> String {
        let (field, value) = self.parts();
        match self {
            Filter::Equals { .. } => format!("{field}: {value}"),
            _ => format!("{field} {value}"),
        }
    }

    /// What the filter is on, and the value it keeps ("owner", "Dana Kim"; "ARR",
    /// "≥ $100.0k"): the bar writes values of one field once, joined by "or".
    pub fn parts(&self) -> (&'static str, String) {
        match self {
            Filter::Equals { label, value, .. } => (label, value.clone()),
            Filter::RenewalWithin(d) => ("contract renewal", format!("≤ {d} days")),
            Filter::ChurnAtLeast(p) => ("churn risk", format!("≥ {:.0} %", p * 100.0)),
            Filter::Compare {
                label,
                at_least,
                value,
                fmt,
                ..
            } => (
                label,
                format!(
                    "{} {}",
                    if *at_least { "≥" } else { "≤" },
                    format_number(*value, *fmt)
                ),
            ),
        }
    }

    /// The field a filter is on: filters on one field combine with OR, fields with AND.
    pub fn field(&self) -> &'static str {
        match self {
            Filter::Equals { column, .. } => column,
            Filter::RenewalWithin(_) => "contract renewal",
            Filter::ChurnAtLeast(_) => "churn band",
            Filter::Compare { column, .. } => column,
        }
    }

    /// The columns the filter reads.
    fn columns(&self) -> Vec<&'static str> {
        match self {
            Filter::Equals { column, .. } => vec![*column],
            Filter::RenewalWithin(_) => vec!["billing_frequency", "days_to_next_renewal"],
            Filter::ChurnAtLeast(_) => vec!["churn_probability"],
            Filter::Compare { column, .. } => vec![*column],
        }
    }

    pub(crate) fn expr(&self) -> Expr {
        match self {
            Filter::Equals { column, value, .. } => col(*column).eq(lit(value.clone())),
            Filter::RenewalWithin(d) => col("billing_frequency")
                .eq(lit("annual"))
                .and(col("days_to_next_renewal").gt_eq(lit(0)))
                .and(col("days_to_next_renewal").lt_eq(lit(*d))),
            Filter::ChurnAtLeast(p) => col("churn_probability").gt_eq(lit(*p)),
            Filter::Compare {
                column,
                at_least,
                value,
                ..
            } => {
                let c = col(*column).cast(DataType::Float64);
                if *at_least {
                    c.gt_eq(lit(*value))
                } else {
                    c.lt_eq(lit(*value))
                }
            }
        }
    }
}

/// What a filter-menu entry filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// One value of a text column.
    Equals(&'static str),
    Renewal,
    ChurnBand,
    /// A number column at least a typed or suggested value.
    AtLeast(&'static str),
}

/// The filter menu's kinds: label and kind; the last two need a model run.
pub const FILTER_KINDS: &[(&str, FilterKind)] = &[
    ("owner (my book)", FilterKind::Equals("owner")),
    ("next best action", FilterKind::Equals("next_best_action")),
    ("churn risk at least (type a %)", FilterKind::ChurnBand),
    ("contract renewal", FilterKind::Renewal),
    (
        "ARR at least (type an amount)",
        FilterKind::AtLeast("total_arr"),
    ),
    ("plan", FilterKind::Equals("plan_tier")),
    ("industry", FilterKind::Equals("industry")),
    ("engagement", FilterKind::Equals("engagement_level")),
    (
        "support status",
        FilterKind::Equals("escalation_health_status"),
    ),
];

impl Filter {
    /// Filters on a model run's scores.
    pub fn needs_run(&self) -> bool {
        match self {
            Filter::Equals { column, .. } => FilterKind::Equals(column).needs_run(),
            Filter::RenewalWithin(_) => false,
            Filter::ChurnAtLeast(_) => true,
            Filter::Compare { column, .. } => COLUMNS.iter().any(|c| c.key == *column && c.model),
        }
    }
}

impl FilterKind {
    /// Needs the scores of a model run.
    pub fn needs_run(self) -> bool {
        matches!(
            self,
            FilterKind::ChurnBand | FilterKind::Equals("next_best_action")
        )
    }
}

/// A filter kind's name without its hint: "owner (my book)" → "owner".
pub fn kind_name(k: usize) -> &'static str {
    let label = FILTER_KINDS[k].0;
    label.split(" (").next().unwrap_or(label)
}

pub const RENEWAL_WINDOWS: &[i64] = &[30, 60, 90, 180];
/// Churn-risk bands, from the playbook's default thresholds down.
pub const CHURN_BANDS: &[f64] = &[0.7, 0.5, 0.4, 0.2, 0.1];

/// Earlier sorts kept to order ties.
pub const MAX_TIE_BREAKS: usize = 2;

/// A change in churn probability since the previous run that earns an arrow: one point.
pub const CHANGE_SHOWN: f64 = 0.01;

/// A typed, single-chunk column for fast cell access.
#[derive(Clone)]
enum Cells {
    Str(StringChunked),
    I64(Int64Chunked),
    F64(Float64Chunked),
}

/// The active accounts of a golden record, with a run's scores, and the view over them.
#[derive(Clone)]
pub struct Book {
    pub as_of: chrono::NaiveDate,
    /// The stored run whose scores the book shows; `None`: rule scores only.
    pub run_id: Option<i64>,
    frame: DataFrame,
    cells: Vec<Cells>,
    names: StringChunked,
    ids: StringChunked,
    arr: Float64Chunked,
    at_risk: Float64Chunked,
    churn: Float64Chunked,
    churn_delta: Float64Chunked,
    /// Days with usage in the last 30 (a trend of 0 without usage is no trend at all).
    active_days: Float64Chunked,
    map_x: Float64Chunked,
    map_y: Float64Chunked,
    /// Active accounts in the whole book: more than the frame holds while it is a preview.
    total: usize,
    /// Row indices of `frame`, filtered and sorted.
    pub order: Vec<u32>,
    pub sort: Option<(usize, bool)>,
    /// Earlier sorts, most recent first: they order the ties of `sort` (sorting by plan
    /// after engagement keeps each plan's accounts by engagement).
    pub then: Vec<(usize, bool)>,
    pub filters: Vec<Filter>,
}

impl Book {
    /// The book of a golden record alone (rule scores): its active accounts, with the
    /// score columns empty.
    pub fn new(gr: &GoldenRecord) -> Result<Book> {
        let empty = SCORE_COLUMNS.iter().map(|&(name, _, kind)| {
            let dtype = match kind {
                Kind::Text => DataType::String,
                Kind::Int | Kind::Flag => DataType::Int64,
                Kind::Real => DataType::Float64,
            };
            lit(NULL).cast(dtype).alias(name)
        });
        let frame = gr
            .frame
            .clone()
            .lazy()
            .filter(col("lifecycle_status").eq(lit("active")))
            .with_columns(empty.collect::<Vec<_>>())
            .collect()?;
        Book::build(frame, gr.as_of, None)
    }

    /// The book of a stored run (all of it, or its preview).
    pub fn of_run(run: &StoredRun) -> Result<Book> {
        let mut book = Book::build(run.book.clone(), run.as_of, Some(run.run_id))?;
        book.total = run.total;
        Ok(book)
    }

    /// `frame`: active accounts in account order, golden record and score columns.
    fn build(mut frame: DataFrame, as_of: chrono::NaiveDate, run_id: Option<i64>) -> Result<Book> {
        // One chunk per column: cell access by row index stays O(1).
        frame.rechunk_mut_par();
        let cells = COLUMNS
            .iter()
            .map(|c| {
                let s = frame.column(c.key)?;
                Ok(match s.dtype() {
                    DataType::String => Cells::Str(s.str()?.clone()),
                    DataType::Int64 => Cells::I64(s.i64()?.clone()),
                    _ => Cells::F64(s.cast(&DataType::Float64)?.f64()?.clone()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let f64_column = |name: &str| -> Result<Float64Chunked> {
            Ok(frame.column(name)?.cast(&DataType::Float64)?.f64()?.clone())
        };
        let names = frame.column("account_name")?.str()?.clone();
        let ids = frame.column("account_id")?.str()?.clone();
        let arr = f64_column("total_arr")?;
        let at_risk = f64_column("arr_at_risk")?;
        let churn = f64_column("churn_probability")?;
        let churn_delta = f64_column("churn_delta")?;
        let active_days = f64_column("active_days_30d")?;
        let (map_x, map_y) = (f64_column("map_x")?, f64_column("map_y")?);
        let order = (0..frame.height() as u32).collect();
        Ok(Book {
            as_of,
            run_id,
            total: frame.height(),
            frame,
            cells,
            names,
            ids,
            arr,
            at_risk,
            churn,
            churn_delta,
            active_days,
            map_x,
            map_y,
            order,
            sort: None,
            then: Vec::new(),
            filters: Vec::new(),
        })
    }

    /// Shows a model run's scores (not only rule scores).
    pub fn scored(&self) -> bool {
        self.run_id.is_some()
    }

    /// Active accounts in the whole book (those loaded, and those still loading).
    pub fn total(&self) -> usize {
        self.total
    }

    /// Only the first rows of the default order are loaded; the rest is on its way.
    pub fn is_preview(&self) -> bool {
        self.frame.height() < self.total
    }

    pub fn frame(&self) -> &DataFrame {
        &self.frame
    }

    /// Rows in the view.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn account_id(&self, view_row: usize) -> Option<&str> {
        self.order
            .get(view_row)
            .and_then(|&r| self.ids.get(r as usize))
    }

    pub fn name(&self, view_row: usize) -> Option<&str> {
        self.order
            .get(view_row)
            .and_then(|&r| self.names.get(r as usize))
    }

    /// The view row's account name or id contains `lowercase_query`.
    pub fn matches(&self, view_row: usize, lowercase_query: &str) -> bool {
        self.order
            .get(view_row)
            .is_some_and(|&r| self.row_matches(r as usize, lowercase_query))
    }

    fn row_matches(&self, row: usize, q: &str) -> bool {
        let hit = |s: Option<&str>| s.is_some_and(|s| s.to_lowercase().contains(q));
        hit(self.names.get(row)) || hit(self.ids.get(row))
    }

    /// Accounts of the whole book (whatever the filters) whose name or id contains
    /// `lowercase_query`.
    pub fn count_matching(&self, lowercase_query: &str) -> usize {
        (0..self.frame.height())
            .filter(|&r| self.row_matches(r, lowercase_query))
            .count()
    }

    /// Total ARR of the rows in the view.
    pub fn view_arr(&self) -> f64 {
        self.order
            .iter()
            .filter_map(|&r| self.arr.get(r as usize))
            .sum()
    }

    /// Expected ARR lost to churn over the rows in the view (0 without a run).
    pub fn view_at_risk(&self) -> f64 {
        self.order
            .iter()
            .filter_map(|&r| self.at_risk.get(r as usize))
            .sum()
    }

    /// A view row's place on the map of the book and its churn probability (scored
    /// accounts only).
    pub fn map_point(&self, view_row: usize) -> Option<(f64, f64, f64)> {
        let r = *self.order.get(view_row)? as usize;
        Some((self.map_x.get(r)?, self.map_y.get(r)?, self.churn.get(r)?))
    }

    /// Frame row of a view row.
    pub fn frame_row(&self, view_row: usize) -> Option<usize> {
        self.order.get(view_row).map(|&r| r as usize)
    }

    /// View row of an account, if it is in the view.
    pub fn position_of(&self, account_id: &str) -> Option<usize> {
        self.order
            .iter()
            .position(|&r| self.ids.get(r as usize) == Some(account_id))
    }

    /// A formatted cell of the table.
    pub fn cell(&self, view_row: usize, column: usize) -> String {
        let Some(&r) = self.order.get(view_row) else {
            return String::new();
        };
        let r = r as usize;
        let spec = &COLUMNS[column];
        match &self.cells[column] {
            Cells::Str(s) => s.get(r).unwrap_or("-").to_string(),
            Cells::I64(s) => s.get(r).map_or("-".into(), |v| v.to_string()),
            Cells::F64(s) => match (s.get(r), spec.fmt) {
                (None, _) => "-".into(),
                (Some(v), Fmt::Churn) => {
                    let arrow = match self.churn_delta.get(r) {
                        Some(d) if d >= CHANGE_SHOWN => "▲",
                        Some(d) if d <= -CHANGE_SHOWN => "▼",
                        _ => "",
                    };
                    format!("{}{arrow}", format_number(v, Fmt::Percent))
                }
                (Some(v), Fmt::Trend)
                    if v == 0.0 && self.active_days.get(r).is_none_or(|d| d == 0.0) =>
                {
                    "—".into()
                }
                (Some(v), fmt) => format_number(v, fmt),
            },
        }
    }

    /// A raw cell (for export): numbers unformatted, empty for NULL.
    pub fn raw(&self, view_row: usize, key: &str) -> String {
        let Some(r) = self.frame_row(view_row) else {
            return String::new();
        };
        match self.frame.column(key).ok().and_then(|c| c.get(r).ok()) {
            None | Some(AnyValue::Null) => String::new(),
            Some(AnyValue::String(s)) => s.to_string(),
            Some(AnyValue::Float64(v)) => format!("{v}"),
            Some(v) => v.to_string().trim_matches('"').to_string(),
        }
    }

    /// Distinct values of a column in the whole book (for the filter menu).
    pub fn distinct(&self, key: &str) -> Vec<String> {
        let mut v: Vec<String> = match self.frame.column(key).and_then(|c| c.str().cloned()) {
            Ok(s) => s.iter().flatten().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v.dedup();
        v
    }

    /// Recompute the order from the filters and the sort (polars filter + stable sort).
    pub fn apply(&mut self) -> Result<()> {
        // Only the columns filtered or sorted on: the whole frame is never copied.
        let keys: Vec<(usize, bool)> = self.sort.into_iter().chain(self.then.clone()).collect();
        let mut used = used_columns(&self.filters, None);
        used.extend(keys.iter().map(|&(c, _)| COLUMNS[c].key));
        used.sort_unstable();
        used.dedup();
        let mut lf = self
            .frame
            .select(used)?
            .lazy()
            .with_row_index("__row", None);
        if let Some(mask) = mask(&self.filters) {
            lf = lf.filter(mask);
        }
        if !keys.is_empty() {
            let exprs: Vec<Expr> = keys.iter().map(|&(c, _)| sort_key(&COLUMNS[c])).collect();
            // Remaining ties keep account order; empty values go last either way.
            lf = lf.sort_by_exprs(
                exprs,
                SortMultipleOptions::default()
                    .with_order_descending_multi(keys.iter().map(|&(_, d)| d))
                    .with_nulls_last(true)
                    .with_maintain_order(true),
            );
        }
        let out = lf.select([col("__row")]).collect()?;
        self.order = out.column("__row")?.idx()?.into_no_null_iter().collect();
        Ok(())
    }

    /// For each of `extra`, the accounts the view would hold with it added to the filters.
    /// One pass over the filtered columns.
    pub fn counts_with(&self, extra: &[Filter]) -> Result<Vec<usize>> {
        if extra.is_empty() {
            return Ok(Vec::new());
        }
        let mut all = self.filters.clone();
        all.extend(extra.iter().cloned());
        let sums: Vec<Expr> = extra
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut with = self.filters.clone();
                with.push(f.clone());
                mask(&with)
                    .unwrap_or(lit(true))
                    .fill_null(lit(false))
                    .cast(DataType::UInt32)
                    .sum()
                    .alias(format!("c{i}"))
            })
            .collect();
        let out = self
            .frame
            .select(used_columns(&all, None))?
            .lazy()
            .select(sums)
            .collect()?;
        (0..extra.len())
            .map(|i| {
                let c = out.column(&format!("c{i}"))?.cast(&DataType::UInt64)?;
                Ok(c.u64()?.get(0).unwrap_or(0) as usize)
            })
            .collect()
    }

    /// The `q` quantile of a number column over the whole book (`None`: no values).
    pub fn quantile(&self, column: &str, q: f64) -> Option<f64> {
        let c = self
            .frame
            .column(column)
            .ok()?
            .cast(&DataType::Float64)
            .ok()?;
        let mut v: Vec<f64> = c
            .f64()
            .ok()?
            .into_no_null_iter()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[((v.len() - 1) as f64 * q).round() as usize])
    }

    /// Sort by `key` (column, descending); the previous sort, on another column, orders
    /// the ties, as do up to two sorts before it.
    pub fn sort_by(&mut self, key: Option<(usize, bool)>) {
        match (self.sort, key) {
            (Some(old), Some(new)) if old.0 != new.0 => {
                self.then.retain(|&(c, _)| c != new.0 && c != old.0);
                self.then.insert(0, old);
                self.then.truncate(MAX_TIE_BREAKS);
            }
            (_, None) => self.then.clear(),
            _ => self.then.retain(|&(c, _)| key.is_none_or(|k| k.0 != c)),
        }
        self.sort = key;
    }

    /// Keep the view (sort, filters) of `other` on this book. Filters on scores a book
    /// without a run does not have are dropped rather than hiding every account.
    pub fn adopt_view(&mut self, other: &Book) -> Result<()> {
        self.sort = other.sort;
        self.then = other.then.clone();
        self.filters = other.filters.clone();
        if !self.scored() {
            self.filters.retain(|f| !f.needs_run());
            if self.sort.is_some_and(|(c, _)| COLUMNS[c].model) {
                self.sort = Some(default_sort(false));
            }
            self.then.retain(|&(c, _)| !COLUMNS[c].model);
        }
        self.apply()
    }
}

/// What a column sorts by: its values, or its rank for an ordinal category.
fn sort_key(spec: &ColumnSpec) -> Expr {
    if spec.ranks.is_empty() {
        return col(spec.key);
    }
    spec.ranks
        .iter()
        .enumerate()
        .fold(lit(NULL).cast(DataType::Int64), |acc, (i, v)| {
            when(col(spec.key).eq(lit(*v)))
                .then(lit(i as i64))
                .otherwise(acc)
        })
}

/// The rows `filters` keep: values of one field widen the view (owner A or owner B),
/// fields narrow it (and).
fn mask(filters: &[Filter]) -> Option<Expr> {
    let mut fields: Vec<(&str, Expr)> = Vec::new();
    for f in filters {
        match fields.iter_mut().find(|(k, _)| *k == f.field()) {
            Some((_, e)) => *e = e.clone().or(f.expr()),
            None => fields.push((f.field(), f.expr())),
        }
    }
    fields.into_iter().map(|(_, e)| e).reduce(|a, b| a.and(b))
}

/// The columns `filters` and a sort key read, each once.
fn used_columns(filters: &[Filter], sort: Option<&'static str>) -> Vec<&'static str> {
    let mut used: Vec<&str> = filters.iter().flat_map(Filter::columns).collect();
    used.extend(sort);
    used.sort_unstable();
    used.dedup();
    used
}

pub fn format_number(v: f64, fmt: Fmt) -> String {
    match fmt {
        Fmt::Money => crate::actions::evidence::money_short(v),
        Fmt::Score => format!("{v:.0}"),
        Fmt::Trend => {
            if v > 0.05 {
                format!("↑{:.0}%", (v * 100.0).min(999.0))
            } else if v < -0.05 {
                format!("↓{:.0}%", (-v * 100.0).min(999.0))
            } else {
                "→".to_string()
            }
        }
        Fmt::Int => format!("{v:.0}"),
        Fmt::Percent | Fmt::Churn => format!("{:.0}%", v * 100.0),
        Fmt::Text => format!("{v}"),
    }
}
