//! A stored run as a reader sees it: the golden record it scored, one row of scores and
//! actions per account as a frame (what a table sorts and filters), and the per-account
//! explanation (drivers, evidence, why it moved) read only for the account being looked at.

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use polars::prelude::*;
use rusqlite::{Connection, OptionalExtension};

use crate::actions::decide::queue_label;
use crate::actions::evidence::Evidence;
use crate::features::{self, dictionary::Kind};
use crate::models::churn::Drivers;
use crate::pipeline::history::Change;
use crate::pipeline::run::{Offer, RunReport};
use crate::workspace::Workspace;

/// The score columns a stored run's book carries besides the golden record: the name in
/// the book, the column of `account_scores` it is read from, and its kind.
pub const SCORE_COLUMNS: [(&str, &str, Kind); 12] = [
    ("churn_probability", "churn_probability", Kind::Real),
    ("churn_delta", "churn_delta", Kind::Real),
    (
        "escalation_probability",
        "escalation_probability",
        Kind::Real,
    ),
    ("crosssell_score", "crosssell_score", Kind::Real),
    ("next_best_action", "action", Kind::Text),
    ("urgent", "urgent", Kind::Flag),
    ("queue_week", "week", Kind::Int),
    ("action_rank", "action_rank", Kind::Int),
    ("arr_at_risk", "arr_at_risk", Kind::Real),
    ("expected_expansion", "expected_expansion", Kind::Real),
    ("map_x", "map_x", Kind::Real),
    ("map_y", "map_y", Kind::Real),
];

/// One stored run, ready to show.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub run_id: i64,
    pub as_of: NaiveDate,
    /// The run's active accounts in account order: each one's golden record (as stored with
    /// the run) joined with its scores ([`SCORE_COLUMNS`]; empty for an account the run
    /// did not score). All of them, or the first rows of the book's default order in a
    /// [`preview`].
    pub book: DataFrame,
    /// Active accounts in the whole book.
    pub total: usize,
    /// The run's report (metrics, curves, actions, forecast); `None` when a report stored
    /// by another cge version cannot be read.
    pub report: Option<RunReport>,
}

impl StoredRun {
    /// Holds every active account (not a preview).
    pub fn complete(&self) -> bool {
        self.book.height() >= self.total
    }
}

/// What one account's explanation holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    pub churn_probability: f64,
    pub drivers: Drivers,
    pub offers: Vec<Offer>,
    /// Its nearest lookalikes using a feature it does not, with what became of them.
    pub lookalikes: Vec<String>,
    pub action: Option<String>,
    /// "this week", "queued: week 2" or empty (not urgent).
    pub queue: String,
    pub evidence: Option<Evidence>,
    pub change: Option<Change>,
}

/// The newest stored run, or `None` when there is none or its golden record is not stored
/// (an older cge's feature dictionary): the caller runs the pipeline again.
pub fn latest(ws: &Workspace) -> Result<Option<StoredRun>> {
    read_run(ws, None, None)
}

/// Stored run `run_id` (every active account), `None` when there is no such run or its
/// golden record is not stored.
pub fn read(ws: &Workspace, run_id: i64) -> Result<Option<StoredRun>> {
    read_run(ws, Some(run_id), None)
}

/// The newest stored run's first `rows` accounts in the book's default order (ARR at risk,
/// then account), read in milliseconds whatever the size of the book: what a screen shows
/// first while [`latest`] reads the rest. Complete when the book has no more rows.
pub fn preview(ws: &Workspace, rows: usize) -> Result<Option<StoredRun>> {
    read_run(ws, None, Some(rows))
}

/// Run `run_id` (default: the newest), its first `limit` accounts or all.
fn read_run(
    ws: &Workspace,
    run_id: Option<i64>,
    limit: Option<usize>,
) -> Result<Option<StoredRun>> {
    let conn = ws.conn();
    let Some((run_id, as_of, report)) = conn
        .query_row(
            "SELECT run_id, as_of, report_json FROM model_runs
             WHERE ?1 IS NULL OR run_id = ?1 ORDER BY run_id DESC LIMIT 1",
            [run_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    let as_of = NaiveDate::parse_from_str(&as_of, "%Y-%m-%d")
        .with_context(|| format!("run {run_id} has an unreadable as-of date {as_of:?}"))?;
    if !features::table_is_current(conn)? {
        return Ok(None);
    }
    let as_of_s = as_of.format("%Y-%m-%d").to_string();
    let (stored, total): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(lifecycle_status = 'active'), 0)
         FROM golden_record WHERE as_of = ?1",
        [&as_of_s],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if stored == 0 {
        // No record stored for the run's date: nothing to show it on.
        return Ok(None);
    }
    let total = total as usize;
    let book = match limit {
        Some(rows) if rows < total => read_book(conn, run_id, &as_of_s, Some(rows), rows)?,
        _ => read_book(conn, run_id, &as_of_s, None, total)?,
    };
    Ok(Some(StoredRun {
        run_id,
        as_of,
        book,
        total,
        report: serde_json::from_str(&report).ok(),
    }))
}

/// True when `run` scored the workspace's current data: its as-of date is the data's.
/// Replacing the data deletes every run, so an older date is the only way a run goes stale.
pub fn is_current(ws: &Workspace, run: &StoredRun) -> Result<bool> {
    Ok(run.as_of == features::default_as_of(ws)?)
}

/// Active accounts of the record `as_of` with run `run_id`'s scores, in account order; with
/// `top`, only the first `top` of the default order. One query, joined in SQLite, reading
/// the scores from their covering index (not the rows with the explanations).
fn read_book(
    conn: &Connection,
    run_id: i64,
    as_of: &str,
    top: Option<usize>,
    rows: usize,
) -> Result<DataFrame> {
    let mut columns = features::dictionary::columns();
    let record: Vec<String> = columns.iter().map(|(n, _)| format!("g.{n}")).collect();
    let scores: Vec<String> = SCORE_COLUMNS
        .iter()
        .map(|(_, stored, _)| format!("s.{stored}"))
        .collect();
    columns.extend(SCORE_COLUMNS.iter().map(|&(name, _, kind)| (name, kind)));
    let (from, limit) = match top {
        // Ties and unscored accounts in the order the book sorts them (nulls last).
        // Only indexed columns in the subquery: it reads the covering index alone.
        Some(n) => (
            format!(
                "(SELECT account_id, {} FROM account_scores INDEXED BY account_scores_view
                  WHERE run_id = ?1
                  ORDER BY arr_at_risk IS NULL, arr_at_risk DESC, account_id LIMIT ?3) s
                 JOIN golden_record g ON g.as_of = ?2 AND g.account_id = s.account_id",
                SCORE_COLUMNS.map(|(_, stored, _)| stored).join(", ")
            ),
            n,
        ),
        None => (
            "golden_record g LEFT JOIN account_scores s INDEXED BY account_scores_view
             ON s.run_id = ?1 AND s.account_id = g.account_id"
                .to_string(),
            0,
        ),
    };
    let sql = format!(
        "SELECT {}, {} FROM {from}
         WHERE g.as_of = ?2 AND g.lifecycle_status = 'active'
         ORDER BY g.account_id",
        record.join(", "),
        scores.join(", "),
    );
    let limit = limit as i64;
    let params: Vec<&dyn rusqlite::ToSql> = if top.is_some() {
        vec![&run_id, &as_of, &limit]
    } else {
        vec![&run_id, &as_of]
    };
    features::read_frame(conn, &sql, &params, &columns, rows)
}

/// One account's explanation in run `run_id`, or `None` when the run did not score it.
pub fn explain(conn: &Connection, run_id: i64, account_id: &str) -> Result<Option<Explanation>> {
    conn.query_row(
        "SELECT churn_probability, drivers_json, offers_json, action, lookalikes_json, week,
                evidence_json, change_json
         FROM account_scores WHERE run_id = ?1 AND account_id = ?2",
        rusqlite::params![run_id, account_id],
        |r| {
            let json = |i: usize| r.get::<_, Option<String>>(i);
            let week = r.get::<_, Option<i64>>(5)?;
            Ok(Explanation {
                churn_probability: r.get(0)?,
                drivers: json(1)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                offers: json(2)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                action: r.get(3)?,
                lookalikes: json(4)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                queue: queue_label(week.and_then(|w| usize::try_from(w).ok())),
                evidence: json(6)?.and_then(|j| serde_json::from_str(&j).ok()),
                change: json(7)?.and_then(|j| serde_json::from_str(&j).ok()),
            })
        },
    )
    .optional()
    .map_err(Into::into)
}
