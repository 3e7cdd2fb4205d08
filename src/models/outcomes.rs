//! What happened after each snapshot: churn and escalations, read from the workspace once
//! and labelled in memory for every snapshot date of a run.
//!
//! A run labels thirteen stacks of accounts (two training stacks of six month-ends and the
//! backtest's evaluation date) for both models; as one SQL query per date and model this
//! took about 4 s at 100,000 accounts, on one core while the other idled.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate};
use rusqlite::Connection;

use crate::workspace::dates::stored_day as day;

/// Churn events, subscription spans and escalations per account, as day numbers.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Churn-event days of every account with at least one.
    churn_events: HashMap<String, Vec<i32>>,
    /// Start and end days of the subscriptions of accounts without any churn event.
    spans: HashMap<String, Vec<(i32, Option<i32>)>>,
    /// Submission days of escalated or `urgent` tickets.
    escalations: HashMap<String, Vec<i32>>,
}

impl Outcomes {
    pub fn load(conn: &Connection) -> Result<Outcomes> {
        let mut out = Outcomes::default();
        let mut stmt = conn.prepare("SELECT account_id, churn_date FROM churn_events")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let d = day("churn_events.churn_date", r.get_ref(1)?.as_str()?)?;
            out.churn_events
                .entry(r.get_ref(0)?.as_str()?.to_string())
                .or_default()
                .push(d);
        }
        let mut stmt = conn.prepare(
            "SELECT account_id, start_date, end_date FROM subscriptions
             WHERE account_id NOT IN (SELECT account_id FROM churn_events)",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let start = day("subscriptions.start_date", r.get_ref(1)?.as_str()?)?;
            let end = match r.get_ref(2)?.as_str_or_null()? {
                Some(e) => Some(day("subscriptions.end_date", e)?),
                None => None,
            };
            out.spans
                .entry(r.get_ref(0)?.as_str()?.to_string())
                .or_default()
                .push((start, end));
        }
        let mut stmt = conn.prepare(
            "SELECT account_id, submitted_at FROM support_tickets
             WHERE escalation_flag = 1 OR priority = 'urgent'",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let d = day("support_tickets.submitted_at", r.get_ref(1)?.as_str()?)?;
            out.escalations
                .entry(r.get_ref(0)?.as_str()?.to_string())
                .or_default()
                .push(d);
        }
        Ok(out)
    }

    /// Churn in `(t, t + horizon]` for each of `accounts`: a churn event dated in the window,
    /// or, for an account with no churn event at all, every subscription started by the
    /// window's end has ended by then, the last of them inside the window.
    pub fn churn(&self, accounts: &[String], t: NaiveDate, horizon: i64) -> Vec<bool> {
        let lo = t.num_days_from_ce();
        let hi = (t + Duration::days(horizon)).num_days_from_ce();
        accounts
            .iter()
            .map(|a| {
                if let Some(days) = self.churn_events.get(a) {
                    return days.iter().any(|&d| d > lo && d <= hi);
                }
                let Some(spans) = self.spans.get(a) else {
                    return false;
                };
                let mut started = spans.iter().filter(|(s, _)| *s <= hi).peekable();
                if started.peek().is_none() {
                    return false;
                }
                let mut last = i32::MIN;
                for (_, end) in started {
                    match end {
                        Some(e) if *e <= hi => last = last.max(*e),
                        _ => return false,
                    }
                }
                last > lo
            })
            .collect()
    }

    /// An escalated or `urgent` ticket submitted in `(t, t + days]`, for each of `accounts`.
    pub fn escalation(&self, accounts: &[String], t: NaiveDate, days: i64) -> Vec<bool> {
        let lo = t.num_days_from_ce();
        let hi = (t + Duration::days(days)).num_days_from_ce();
        accounts
            .iter()
            .map(|a| {
                self.escalations
                    .get(a)
                    .is_some_and(|ds| ds.iter().any(|&d| d > lo && d <= hi))
            })
            .collect()
    }
}
