//! Per-feature product usage: the account × product-feature matrix over the days before an
//! as-of date (usage events and errors per feature).
//!
//! The golden record's aggregates hide what a CSM most needs: "uses integrations" and "keeps
//! hitting export errors" point opposite ways. Models read these matrices beside the record,
//! and the cross-sell model factorizes them. Point in time like the record: a matrix as of
//! `t` sums usage dated in `(t - days, t]`. One scan of the usage table serves a whole batch
//! of as-of dates (training stacks several month-ends), since each row falls in a few windows.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use rusqlite::Connection;

use super::usage::UsageLog;

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
    let log = UsageLog::load(conn, first - chrono::Duration::days(days), last)?;
    dates.iter().map(|&d| matrix_in(&log, d, days)).collect()
}

/// The matrix as of `as_of` from a usage log loaded for a batch of dates. Its columns are
/// every product feature the log holds, so all matrices of one log line up.
pub fn matrix_in(log: &UsageLog, as_of: NaiveDate, days: i64) -> Result<FeatureUsage> {
    if days <= 0 {
        bail!("a usage window needs at least one day, got {days}");
    }
    let (counts, errors) = log.sums(as_of, days)?;
    // Columns in natural order.
    let mut order: Vec<usize> = (0..log.features.len()).collect();
    order.sort_by_key(|&i| natural_key(&log.features[i]));
    let p = order.len();
    let reorder = |cells: Vec<f64>| -> Vec<f64> {
        let mut out = vec![0.0; cells.len()];
        for (row, chunk) in cells.chunks_exact(p.max(1)).enumerate() {
            for (c, &i) in order.iter().enumerate() {
                out[row * p + c] = chunk[i];
            }
        }
        out
    };
    Ok(FeatureUsage {
        as_of,
        days,
        account_ids: log.account_ids.clone(),
        features: order.iter().map(|&i| log.features[i].clone()).collect(),
        counts: reorder(counts),
        errors: reorder(errors),
    })
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
        use crate::workspace::dates::day_number;
        use chrono::Datelike;
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(day_number("2024-02-29"), Some(d.num_days_from_ce()));
        assert_eq!(
            day_number("2024-02-29 13:05:00"),
            Some(d.num_days_from_ce())
        );
        assert_eq!(day_number("2024-02-30"), None);
        assert_eq!(day_number("2024-0x-01"), None);
    }
}
