//! The book of accounts the TUI shows: the golden-record frame (polars) of active
//! accounts, and a view over it — filters and a sort — kept as a row-index order.
//! Rows are formatted only for the slice on screen.

use anyhow::Result;
use polars::prelude::*;

use crate::features::GoldenRecord;

/// How a column's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Text,
    Int,
    Money,
    Score,
    Trend,
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
    }
}

pub const ENGAGEMENT: &[&str] = &["none", "low", "medium", "high"];
pub const ESCALATION: &[&str] = &["healthy", "watch", "at_risk", "critical"];
pub const CROSSSELL: &[&str] = &["not_ready", "warming", "ready"];
pub const PLANS: &[&str] = &["Basic", "Pro", "Enterprise"];

/// The accounts table, left to right. Scores and actions of later stages add columns here.
pub const COLUMNS: &[ColumnSpec] = &[
    c("account_name", "Account", 24, false, Fmt::Text),
    c("compound_churn_risk_score", "Risk", 5, true, Fmt::Score),
    c("owner", "Owner", 13, false, Fmt::Text),
    ColumnSpec {
        key: "plan_tier",
        title: "Plan",
        width: 10,
        descending_first: true,
        fmt: Fmt::Text,
        ranks: PLANS,
    },
    c("total_arr", "ARR", 8, true, Fmt::Money),
    c("days_to_next_renewal", "Renew", 6, false, Fmt::Int),
    ranked("engagement_level", "Engage", 7, ENGAGEMENT),
    c("usage_velocity_30day", "Trend", 6, false, Fmt::Trend),
    c("open_tickets", "Open", 5, true, Fmt::Int),
    c("high_priority_tickets", "HiPri", 6, true, Fmt::Int),
    ranked("escalation_health_status", "Support", 8, ESCALATION),
    c("crosssell_readiness_score", "XSell", 6, true, Fmt::Score),
    c("industry", "Industry", 13, false, Fmt::Text),
];

/// One stackable filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Equals {
        column: &'static str,
        label: &'static str,
        value: String,
    },
    RenewalWithin(i64),
}

impl Filter {
    pub fn describe(&self) -> String {
        match self {
            Filter::Equals { label, value, .. } => format!("{label}: {value}"),
            Filter::RenewalWithin(d) => format!("renewal ≤ {d} days"),
        }
    }

    fn expr(&self) -> Expr {
        match self {
            Filter::Equals { column, value, .. } => col(*column).eq(lit(value.clone())),
            Filter::RenewalWithin(d) => col("days_to_next_renewal").lt_eq(lit(*d)),
        }
    }
}

/// The filter menu's kinds: label, column (None for the renewal window).
pub const FILTER_KINDS: &[(&str, Option<&str>)] = &[
    ("owner (my book)", Some("owner")),
    ("plan", Some("plan_tier")),
    ("industry", Some("industry")),
    ("engagement", Some("engagement_level")),
    ("support status", Some("escalation_health_status")),
    ("renewal window", None),
];

pub const RENEWAL_WINDOWS: &[i64] = &[30, 60, 90, 180];

/// A typed, single-chunk column for fast cell access.
#[derive(Clone)]
enum Cells {
    Str(StringChunked),
    I64(Int64Chunked),
    F64(Float64Chunked),
}

/// The active accounts of a golden record and the current view over them.
#[derive(Clone)]
pub struct Book {
    pub as_of: chrono::NaiveDate,
    frame: DataFrame,
    cells: Vec<Cells>,
    names: StringChunked,
    ids: StringChunked,
    arr: Float64Chunked,
    /// Row indices of `frame`, filtered and sorted.
    pub order: Vec<u32>,
    pub sort: Option<(usize, bool)>,
    pub filters: Vec<Filter>,
}

impl Book {
    pub fn new(gr: &GoldenRecord) -> Result<Book> {
        let mut frame = gr
            .frame
            .clone()
            .lazy()
            .filter(col("lifecycle_status").eq(lit("active")))
            .collect()?;
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
        let names = frame.column("account_name")?.str()?.clone();
        let ids = frame.column("account_id")?.str()?.clone();
        let arr = frame.column("total_arr")?.f64()?.clone();
        let order = (0..frame.height() as u32).collect();
        Ok(Book {
            as_of: gr.as_of,
            frame,
            cells,
            names,
            ids,
            arr,
            order,
            sort: None,
            filters: Vec::new(),
        })
    }

    pub fn total(&self) -> usize {
        self.frame.height()
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

    /// Total ARR of the rows in the view.
    pub fn view_arr(&self) -> f64 {
        self.order
            .iter()
            .filter_map(|&r| self.arr.get(r as usize))
            .sum()
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
            Cells::F64(s) => s.get(r).map_or("-".into(), |v| format_number(v, spec.fmt)),
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
        let mut lf = self.frame.clone().lazy().with_row_index("__row", None);
        if let Some(mask) = self
            .filters
            .iter()
            .map(Filter::expr)
            .reduce(|a, b| a.and(b))
        {
            lf = lf.filter(mask);
        }
        if let Some((column, descending)) = self.sort {
            let spec = &COLUMNS[column];
            let key = if spec.ranks.is_empty() {
                col(spec.key)
            } else {
                spec.ranks.iter().enumerate().fold(
                    lit(NULL).cast(DataType::Int64),
                    |acc, (i, v)| {
                        when(col(spec.key).eq(lit(*v)))
                            .then(lit(i as i64))
                            .otherwise(acc)
                    },
                )
            };
            // Ties keep account order; empty values go last either way.
            lf = lf.sort_by_exprs(
                [key],
                SortMultipleOptions::default()
                    .with_order_descending(descending)
                    .with_nulls_last(true)
                    .with_maintain_order(true),
            );
        }
        let out = lf.select([col("__row")]).collect()?;
        self.order = out.column("__row")?.idx()?.into_no_null_iter().collect();
        Ok(())
    }

    /// Keep the view (sort, filters) of `other` on this book.
    pub fn adopt_view(&mut self, other: &Book) -> Result<()> {
        self.sort = other.sort;
        self.filters = other.filters.clone();
        self.apply()
    }
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
        Fmt::Text => format!("{v}"),
    }
}
