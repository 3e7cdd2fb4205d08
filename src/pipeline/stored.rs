//! A stored run as a reader sees it: the golden record it scored, one row of scores and
//! actions per account as a frame (what a table sorts and filters), and the per-account
//! explanation (drivers, evidence, why it moved) read only for the account being looked at.

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use polars::prelude::*;
use rusqlite::{Connection, OptionalExtension};

use crate::actions::decide::queue_label;
use crate::actions::evidence::Evidence;
use crate::features::{self, GoldenRecord};
use crate::models::churn::Drivers;
use crate::pipeline::history::Change;
use crate::pipeline::run::{Offer, RunReport};
use crate::workspace::Workspace;

/// The score columns of [`StoredRun::scores`], besides `account_id`.
pub const SCORE_COLUMNS: [&str; 10] = [
    "churn_probability",
    "churn_delta",
    "escalation_probability",
    "crosssell_score",
    "next_best_action",
    "urgent",
    "queue_week",
    "action_rank",
    "arr_at_risk",
    "expected_expansion",
];

/// One stored run, ready to show.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub run_id: i64,
    pub as_of: NaiveDate,
    /// The golden record the run scored (all accounts, as stored with the run).
    pub record: GoldenRecord,
    /// `account_id` and [`SCORE_COLUMNS`], one row per scored (active) account.
    pub scores: DataFrame,
    /// The run's report (metrics, curves, actions, forecast); `None` when a report stored
    /// by another cge version cannot be read.
    pub report: Option<RunReport>,
}

/// What one account's explanation holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    pub churn_probability: f64,
    pub drivers: Drivers,
    pub offers: Vec<Offer>,
    pub action: Option<String>,
    /// "this week", "queued: week 2" or empty (not urgent).
    pub queue: String,
    pub evidence: Option<Evidence>,
    pub change: Option<Change>,
}

/// The newest stored run, or `None` when there is none or its golden record is not stored
/// (an older cge's feature dictionary): the caller runs the pipeline again.
pub fn latest(ws: &Workspace) -> Result<Option<StoredRun>> {
    let conn = ws.conn();
    let Some((run_id, as_of, report)) = conn
        .query_row(
            "SELECT run_id, as_of, report_json FROM model_runs ORDER BY run_id DESC LIMIT 1",
            [],
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
    let Some(record) = features::load(ws, as_of)? else {
        return Ok(None);
    };
    let scores = scores(conn, run_id)?;
    Ok(Some(StoredRun {
        run_id,
        as_of,
        record,
        scores,
        report: serde_json::from_str(&report).ok(),
    }))
}

/// True when `run` scored the workspace's current data: its as-of date is the data's.
/// Replacing the data deletes every run, so an older date is the only way a run goes stale.
pub fn is_current(ws: &Workspace, run: &StoredRun) -> Result<bool> {
    Ok(run.as_of == features::default_as_of(ws)?)
}

fn scores(conn: &Connection, run_id: i64) -> Result<DataFrame> {
    let mut stmt = conn.prepare(
        "SELECT account_id, churn_probability, churn_delta, escalation_probability,
                crosssell_score, action, urgent, week, action_rank, arr_at_risk,
                expected_expansion
         FROM account_scores WHERE run_id = ?1 ORDER BY account_id",
    )?;
    let mut ids: Vec<String> = Vec::new();
    let (mut churn, mut delta, mut escalation, mut crosssell) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut action: Vec<Option<String>> = Vec::new();
    let (mut urgent, mut week, mut rank) = (Vec::new(), Vec::new(), Vec::new());
    let (mut at_risk, mut expansion) = (Vec::new(), Vec::new());
    let mut q = stmt.query([run_id])?;
    while let Some(r) = q.next()? {
        ids.push(r.get(0)?);
        churn.push(r.get::<_, Option<f64>>(1)?);
        delta.push(r.get::<_, Option<f64>>(2)?);
        escalation.push(r.get::<_, Option<f64>>(3)?);
        crosssell.push(r.get::<_, Option<f64>>(4)?);
        action.push(r.get(5)?);
        urgent.push(r.get::<_, Option<bool>>(6)?);
        week.push(r.get::<_, Option<i64>>(7)?);
        rank.push(r.get::<_, Option<i64>>(8)?);
        at_risk.push(r.get::<_, Option<f64>>(9)?);
        expansion.push(r.get::<_, Option<f64>>(10)?);
    }
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9] = SCORE_COLUMNS;
    let n = ids.len();
    Ok(DataFrame::new(
        n,
        vec![
            Column::new("account_id".into(), ids),
            Column::new(c0.into(), churn),
            Column::new(c1.into(), delta),
            Column::new(c2.into(), escalation),
            Column::new(c3.into(), crosssell),
            Column::new(c4.into(), action),
            Column::new(c5.into(), urgent),
            Column::new(c6.into(), week),
            Column::new(c7.into(), rank),
            Column::new(c8.into(), at_risk),
            Column::new(c9.into(), expansion),
        ],
    )?)
}

/// One account's explanation in run `run_id`, or `None` when the run did not score it.
pub fn explain(conn: &Connection, run_id: i64, account_id: &str) -> Result<Option<Explanation>> {
    conn.query_row(
        "SELECT churn_probability, drivers_json, offers_json, action, NULL, week,
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
                queue: queue_label(week.and_then(|w| usize::try_from(w).ok())),
                evidence: json(6)?.and_then(|j| serde_json::from_str(&j).ok()),
                change: json(7)?.and_then(|j| serde_json::from_str(&j).ok()),
            })
        },
    )
    .optional()
    .map_err(Into::into)
}
