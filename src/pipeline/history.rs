//! Runs are history: the previous run's scores to say what changed and why, the list of
//! stored runs, and pruning to the last N.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::models::churn::Driver;

/// What the previous run said about one account.
#[derive(Debug, Clone, Default)]
pub struct Before {
    pub churn: f64,
    pub action: Option<String>,
    /// Its strongest contributions to the churn log-odds.
    pub strongest: Vec<(String, f64)>,
}

/// The latest stored run, by account.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub run_id: i64,
    pub as_of: String,
    pub accounts: HashMap<String, Before>,
}

/// An account's change since the previous run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub previous_run: i64,
    pub churn_before: f64,
    /// This run's churn probability minus the previous one's.
    pub churn_delta: f64,
    pub action_before: Option<String>,
    pub action_changed: bool,
    /// The inputs whose contribution to the churn log-odds changed most; each driver's
    /// `contribution` is the change.
    pub why: Vec<Driver>,
}

impl Change {
    /// "risk ▲ 12.0 pts (was 30.1 %); action was Monitor; usage … (+0.41)".
    pub fn describe(&self) -> String {
        let arrow = if self.churn_delta > 0.0 { "▲" } else { "▼" };
        let mut out = format!(
            "risk {arrow} {:.1} pts (was {:.1} %)",
            100.0 * self.churn_delta.abs(),
            100.0 * self.churn_before
        );
        if self.action_changed {
            out.push_str(&format!(
                "; action was {}",
                self.action_before.as_deref().unwrap_or("none")
            ));
        }
        if !self.why.is_empty() {
            let why: Vec<String> = self
                .why
                .iter()
                .map(|d| format!("{} ({:+.2})", d.words, d.contribution))
                .collect();
            out.push_str(&format!("; moved by {}", why.join(", ")));
        }
        out
    }
}

/// The latest stored run with its per-account scores; `None` when there is none.
pub fn previous(conn: &Connection) -> Result<Option<Previous>> {
    let Some((run_id, as_of)) = conn
        .query_row(
            "SELECT run_id, as_of FROM model_runs ORDER BY run_id DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT account_id, churn_probability, action, contributions_json
         FROM account_scores WHERE run_id = ?1",
    )?;
    let mut accounts = HashMap::new();
    let mut rows = stmt.query([run_id])?;
    while let Some(r) = rows.next()? {
        let strongest = match r.get::<_, Option<String>>(3)? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => Vec::new(),
        };
        accounts.insert(
            r.get::<_, String>(0)?,
            Before {
                churn: r.get(1)?,
                action: r.get(2)?,
                strongest,
            },
        );
    }
    Ok(Some(Previous {
        run_id,
        as_of,
        accounts,
    }))
}

/// One stored run, as `cge runs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: i64,
    pub as_of: String,
    pub finished_at: Option<String>,
    pub label_source: String,
    pub accounts: i64,
    pub churn_pr_auc: Option<f64>,
    pub arr_at_risk: Option<f64>,
    pub urgent_this_week: i64,
    pub queued: i64,
    pub seconds: Option<f64>,
}

/// Stored runs, newest first.
pub fn list(conn: &Connection) -> Result<Vec<RunRow>> {
    let mut stmt = conn.prepare(
        "SELECT r.run_id, r.as_of, r.finished_at, r.label_source,
                json_extract(r.report_json, '$.churn.backtest.pr_auc'),
                r.timings_json,
                (SELECT count(*) FROM account_scores s WHERE s.run_id = r.run_id),
                (SELECT sum(arr_at_risk) FROM account_scores s WHERE s.run_id = r.run_id),
                (SELECT count(*) FROM account_scores s WHERE s.run_id = r.run_id AND week = 0),
                (SELECT count(*) FROM account_scores s WHERE s.run_id = r.run_id AND week > 0)
         FROM model_runs r ORDER BY r.run_id DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        let timings: String = r.get(5)?;
        let seconds = serde_json::from_str::<Vec<(String, f64)>>(&timings)
            .ok()
            .filter(|t| !t.is_empty())
            .map(|t| t.iter().map(|(_, s)| s).sum());
        Ok(RunRow {
            run_id: r.get(0)?,
            as_of: r.get(1)?,
            finished_at: r.get(2)?,
            label_source: r.get(3)?,
            churn_pr_auc: r.get(4)?,
            accounts: r.get(6)?,
            arr_at_risk: r.get(7)?,
            urgent_this_week: r.get(8)?,
            queued: r.get(9)?,
            seconds,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Delete all but the newest `keep` runs (and their scores). Returns how many went.
pub fn prune(conn: &Connection, keep: usize) -> Result<usize> {
    let keep = keep.max(1) as i64;
    // Everything below the oldest kept run goes: a range on the key, where `NOT IN (kept)`
    // scanned every stored score (at 100,000 accounts and six runs: 11 s).
    let oldest_kept: Option<i64> = conn.query_row(
        "SELECT min(run_id) FROM (SELECT run_id FROM model_runs ORDER BY run_id DESC LIMIT ?1)",
        [keep],
        |r| r.get(0),
    )?;
    let Some(oldest_kept) = oldest_kept else {
        return Ok(0);
    };
    conn.execute(
        "DELETE FROM account_scores WHERE run_id < ?1",
        [oldest_kept],
    )?;
    Ok(conn.execute("DELETE FROM model_runs WHERE run_id < ?1", [oldest_kept])?)
}

/// The runs as a table for `cge runs`.
pub fn table(rows: &[RunRow]) -> String {
    if rows.is_empty() {
        return "no stored runs: `cge run` makes one\n".into();
    }
    let mut out = format!(
        "{:>4}  {:<10}  {:<19}  {:<12}  {:>8}  {:>7}  {:>14}  {:>6}  {:>6}  {:>7}\n",
        "run",
        "as of",
        "finished",
        "labels",
        "accounts",
        "PR-AUC",
        "ARR at risk",
        "urgent",
        "queued",
        "seconds"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>4}  {:<10}  {:<19}  {:<12}  {:>8}  {:>7}  {:>14}  {:>6}  {:>6}  {:>7}\n",
            r.run_id,
            r.as_of,
            r.finished_at.as_deref().unwrap_or("-"),
            r.label_source,
            r.accounts,
            r.churn_pr_auc.map_or("-".into(), |v| format!("{v:.3}")),
            r.arr_at_risk
                .map_or("-".into(), crate::actions::evidence::money),
            r.urgent_this_week,
            r.queued,
            r.seconds.map_or("-".into(), |s| format!("{s:.1}")),
        ));
    }
    out
}
