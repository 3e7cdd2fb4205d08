//! Per-feature product usage: the account × product-feature matrix over the days before an
//! as-of date (usage events and errors per feature).
//!
//! The golden record's aggregates hide what a CSM most needs: "uses integrations" and "keeps
//! hitting export errors" point opposite ways. Models read these matrices beside the record,
//! and the cross-sell model factorizes them. Point in time like the record: a matrix as of
//! `t` sums usage dated in `(t - days, t]`. One scan of the usage table serves a whole batch
//! of as-of dates (training stacks several month-ends), since each row falls in a few windows.

use std::collections::HashMap;

use anyhow::{Result, bail};
use chrono::{Datelike, NaiveDate};
use rusqlite::Connection;

/// Days of usage in a matrix by default: the last quarter.
pub const DEFAULT_DAYS: i64 = 90;

/// Usage per account and product feature in the `days` days up to `as_of`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureUsage {
    pub as_of: NaiveDate,
    pub days: i64,
    /// Every account that holds a subscription in the workspace, sorted (rows of the matrices;
    /// accounts without usage in the window have zero rows).
    pub account_ids: Vec<String>,
    /// Product feature names in natural order (`feature_2` before `feature_10`): the columns.
    pub features: Vec<String>,
    /// Usage events (sum of `usage_count`), row-major accounts × features.
    pub counts: Vec<f64>,
    /// Errors (sum of `error_count`), row-major accounts × features.
    pub errors: Vec<f64>,
}

impl FeatureUsage {
    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    /// The row of an account, if it holds a subscription.
    pub fn row_of(&self, account_id: &str) -> Option<usize> {
        self.account_ids
            .binary_search_by(|a| a.as_str().cmp(account_id))
            .ok()
    }

    pub fn counts_row(&self, row: usize) -> &[f64] {
        let p = self.n_features();
        &self.counts[row * p..(row + 1) * p]
    }

    pub fn errors_row(&self, row: usize) -> &[f64] {
        let p = self.n_features();
        &self.errors[row * p..(row + 1) * p]
    }
}

/// `feature_10` sorts after `feature_2`: by the name without its trailing number, then the number.
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_string(), num.parse().unwrap_or(0))
}

/// Day number of a stored `YYYY-MM-DD` date, read straight from its bytes (millions of rows).
fn day_of(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
        .map(|d| d.num_days_from_ce())
}

/// The matrices as of each date in `dates` (any order; returned in the same order), over
/// `days` days each, from one scan of the usage rows they need.
pub fn matrices(conn: &Connection, dates: &[NaiveDate], days: i64) -> Result<Vec<FeatureUsage>> {
    if days <= 0 {
        bail!("a usage window needs at least one day, got {days}");
    }
    let Some(&first) = dates.iter().min() else {
        return Ok(Vec::new());
    };
    let last = *dates.iter().max().expect("non-empty");

    // Rows: every account with a subscription; subscription -> row, held in memory.
    let mut account_ids: Vec<String> = {
        let mut stmt = conn.prepare("SELECT DISTINCT account_id FROM subscriptions")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    account_ids.sort();
    let index: HashMap<&str, u32> = account_ids
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i as u32))
        .collect();
    let mut sub_row: HashMap<String, u32> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT subscription_id, account_id FROM subscriptions")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let acc = r.get_ref(1)?.as_str()?;
            if let Some(&i) = index.get(acc) {
                sub_row.insert(r.get_ref(0)?.as_str()?.to_string(), i);
            }
        }
    }

    // Windows as day-number ranges (lo, hi].
    let windows: Vec<(i32, i32)> = dates
        .iter()
        .map(|d| {
            let hi = d.num_days_from_ce();
            (hi - days as i32, hi)
        })
        .collect();
    let from = first - chrono::Duration::days(days);

    // Dense per window and feature (a column of every account), allocated as features appear:
    // a hash map of cells costs several times the memory and time at 100,000 accounts.
    let n = account_ids.len();
    let mut feature_ids: HashMap<String, usize> = HashMap::new();
    let mut features: Vec<String> = Vec::new();
    let mut counts: Vec<Vec<Vec<f64>>> = vec![Vec::new(); windows.len()];
    let mut errs: Vec<Vec<Vec<f64>>> = vec![Vec::new(); windows.len()];
    // A sequential scan: the windows of a training batch span most of the table, and even
    // one 90-day window is a share large enough that index hits on scattered pages cost more.
    let mut stmt = conn.prepare(
        "SELECT subscription_id, usage_date, feature_name, usage_count, error_count
         FROM feature_usage NOT INDEXED WHERE usage_date > ?1 AND usage_date <= ?2",
    )?;
    let mut q = stmt.query([
        crate::workspace::dates::format_date(from),
        crate::workspace::dates::format_date(last),
    ])?;
    while let Some(r) = q.next()? {
        let Some(&row) = sub_row.get(r.get_ref(0)?.as_str()?) else {
            continue;
        };
        let Some(day) = day_of(r.get_ref(1)?.as_str()?) else {
            continue;
        };
        let name = r.get_ref(2)?.as_str()?;
        let feature = match feature_ids.get(name) {
            Some(&f) => f,
            None => {
                let f = features.len();
                feature_ids.insert(name.to_string(), f);
                features.push(name.to_string());
                for w in 0..windows.len() {
                    counts[w].push(vec![0.0; n]);
                    errs[w].push(vec![0.0; n]);
                }
                f
            }
        };
        let count = r.get_ref(3)?.as_i64()? as f64;
        let errors = r.get_ref(4)?.as_i64()? as f64;
        for (w, &(lo, hi)) in windows.iter().enumerate() {
            if day > lo && day <= hi {
                counts[w][feature][row as usize] += count;
                errs[w][feature][row as usize] += errors;
            }
        }
    }

    // Columns in natural order, laid out row-major.
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| natural_key(&features[i]));
    let sorted: Vec<String> = order.iter().map(|&i| features[i].clone()).collect();
    let p = sorted.len();
    // Each window's columns are freed as soon as they are laid out: no second copy of them all.
    let row_major = |cols: Vec<Vec<f64>>| -> Vec<f64> {
        let mut out = vec![0.0; n * p];
        for (c, &i) in order.iter().enumerate() {
            for (r, v) in cols[i].iter().enumerate() {
                out[r * p + c] = *v;
            }
        }
        out
    };
    Ok(dates
        .iter()
        .zip(counts.into_iter().zip(errs))
        .map(|(&d, (c, e))| FeatureUsage {
            as_of: d,
            days,
            account_ids: account_ids.clone(),
            features: sorted.clone(),
            counts: row_major(c),
            errors: row_major(e),
        })
        .collect())
}

/// The matrix as of one date.
pub fn matrix(conn: &Connection, as_of: NaiveDate, days: i64) -> Result<FeatureUsage> {
    Ok(matrices(conn, &[as_of], days)?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_and_dates() {
        let mut names = vec!["feature_10", "feature_2", "export", "feature_1"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["export", "feature_1", "feature_2", "feature_10"]);
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(day_of("2024-02-29"), Some(d.num_days_from_ce()));
        assert_eq!(day_of("2024-02-30"), None);
        assert_eq!(day_of("2024-0x-01"), None);
    }
}
