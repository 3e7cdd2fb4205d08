//! The usage windows of the golden record.
//!
//! The rows of the days needed are read once ([`UsageLog`], `assets/sql/golden/usage.sql`)
//! and every window is one pass over a slice of them ([`WindowSums`]); accounts idle for the
//! whole window get their last usage from one index-seek statement.

use anyhow::{Context, Result};

use super::stages::permute;
use crate::workspace::dates::stored_day;
use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value;

const USAGE_SQL: &str = include_str!("../../assets/sql/golden/usage.sql");

/// Days of usage the windows need (30-day trend = last 30 vs the 30 before; last activity).
pub const WINDOW_DAYS: i64 = 60;

/// The usage rows of a span of days, read in one scan and held in day order: every usage
/// window and per-feature matrix of a batch of as-of dates is a slice of it. A training
/// stack's ten month-ends then cost one pass over the usage table instead of eleven (at
/// 100,000 accounts each pass read the whole 2 GB table: about 1 s).
pub struct UsageLog {
    /// The days held, as day numbers (`num_days_from_ce`): `(from, to]`.
    from: i32,
    to: i32,
    /// Every account that holds a subscription, sorted: `account` indexes it.
    pub account_ids: Vec<String>,
    /// Product feature names in the order first seen: `feature` indexes it.
    pub features: Vec<String>,
    day: Vec<i32>,
    account: Vec<u32>,
    feature: Vec<u32>,
    count: Vec<i64>,
    duration: Vec<i64>,
    errors: Vec<i64>,
}

impl UsageLog {
    /// The usage dated in `(from, to]`, from one sequential scan: a batch's windows span most
    /// of the table, and index hits on scattered pages cost more even for one window
    /// (10,000 accounts: 0.05 s vs 0.25 s).
    pub fn load(conn: &Connection, from: NaiveDate, to: NaiveDate) -> Result<UsageLog> {
        let mut account_ids: Vec<String> = {
            let mut stmt = conn.prepare_cached("SELECT DISTINCT account_id FROM subscriptions")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        account_ids.sort();
        // Subscription -> account, held in memory: cheaper than a join per usage row.
        let owner: PlHashMap<String, u32> = {
            let index: PlHashMap<&str, u32> = account_ids
                .iter()
                .enumerate()
                .map(|(i, a)| (a.as_str(), i as u32))
                .collect();
            let mut stmt =
                conn.prepare_cached("SELECT subscription_id, account_id FROM subscriptions")?;
            let mut q = stmt.query([])?;
            let mut owner = PlHashMap::default();
            while let Some(r) = q.next()? {
                if let Some(&i) = index.get(r.get_ref(1)?.as_str()?) {
                    owner.insert(r.get_ref(0)?.as_str()?.to_string(), i);
                }
            }
            owner
        };
        let (lo, hi) = (from.num_days_from_ce(), to.num_days_from_ce());
        let mut log = UsageLog {
            from: lo,
            to: hi.max(lo),
            account_ids,
            features: Vec::new(),
            day: Vec::new(),
            account: Vec::new(),
            feature: Vec::new(),
            count: Vec::new(),
            duration: Vec::new(),
            errors: Vec::new(),
        };
        let mut feature_ids: PlHashMap<String, u32> = PlHashMap::default();
        let mut stmt = conn.prepare_cached(USAGE_SQL)?;
        let mut q = stmt.query(rusqlite::named_params! {
            ":from": crate::workspace::dates::format_date(from),
            ":to": crate::workspace::dates::format_date(to),
        })?;
        while let Some(r) = q.next()? {
            let Some(&account) = owner.get(r.get_ref(0)?.as_str()?) else {
                continue;
            };
            let day = stored_day("feature_usage.usage_date", r.get_ref(1)?.as_str()?)?;
            let name = r.get_ref(2)?.as_str()?;
            let feature = match feature_ids.get(name) {
                Some(&f) => f,
                None => {
                    let f = log.features.len() as u32;
                    feature_ids.insert(name.to_string(), f);
                    log.features.push(name.to_string());
                    f
                }
            };
            log.day.push(day);
            log.account.push(account);
            log.feature.push(feature);
            log.count.push(r.get_ref(3)?.as_i64()?);
            log.duration.push(r.get_ref(4)?.as_i64()?);
            log.errors.push(r.get_ref(5)?.as_i64()?);
        }
        log.sort_by_day();
        Ok(log)
    }

    /// Rows in day order (a counting sort: few distinct days), so a window is a slice.
    fn sort_by_day(&mut self) {
        if self.day.is_sorted() {
            return;
        }
        let span = (self.to - self.from + 1).max(1) as usize;
        let slot = |d: i32| (d - self.from).clamp(0, span as i32 - 1) as usize;
        let mut start = vec![0usize; span + 1];
        for &d in &self.day {
            start[slot(d) + 1] += 1;
        }
        for i in 0..span {
            start[i + 1] += start[i];
        }
        let mut order = vec![0usize; self.day.len()];
        for (i, &d) in self.day.iter().enumerate() {
            let s = &mut start[slot(d)];
            order[*s] = i;
            *s += 1;
        }
        self.day = permute(&self.day, &order);
        self.account = permute(&self.account, &order);
        self.feature = permute(&self.feature, &order);
        self.count = permute(&self.count, &order);
        self.duration = permute(&self.duration, &order);
        self.errors = permute(&self.errors, &order);
    }

    /// The rows of the `days` days up to `as_of` (`(as_of - days, as_of]`); an error when the
    /// log was not loaded for all of them.
    fn window(&self, as_of: NaiveDate, days: i64) -> Result<std::ops::Range<usize>> {
        let hi = as_of.num_days_from_ce();
        let lo = hi - days as i32;
        if lo < self.from || hi > self.to {
            anyhow::bail!(
                "the usage log holds days {}..={} (day numbers), not the {days} days up to {as_of}",
                self.from + 1,
                self.to
            );
        }
        let start = self.day.partition_point(|&d| d <= lo);
        let end = self.day.partition_point(|&d| d <= hi);
        Ok(start..end)
    }

    /// Usage events and errors per account (rows, [`Self::account_ids`]) and feature
    /// (columns, [`Self::features`]) in the `days` days up to `as_of`, row-major.
    pub fn sums(&self, as_of: NaiveDate, days: i64) -> Result<(Vec<f64>, Vec<f64>)> {
        let range = self.window(as_of, days)?;
        let p = self.features.len();
        let mut counts = vec![0.0; self.account_ids.len() * p];
        let mut errors = vec![0.0; self.account_ids.len() * p];
        for i in range {
            let cell = self.account[i] as usize * p + self.feature[i] as usize;
            counts[cell] += self.count[i] as f64;
            errors[cell] += self.errors[i] as f64;
        }
        Ok((counts, errors))
    }
}

/// A JSON string literal (for passing id lists to SQLite's json_each).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Per-account sums of one usage window, accumulated in one pass over the log's slice.
///
/// Why not a polars group-by: with nine filtered aggregations it took 0.3-0.45 s per as-of
/// date at 100,000 accounts (430,000 rows), ten dates per run; this pass takes a few
/// milliseconds. The result is checked against plain SQL (`SQL_BASELINE`) in the tests.
struct WindowSums {
    accounts: Vec<u32>,
    c7: Vec<i64>,
    p7: Vec<i64>,
    c30: Vec<i64>,
    p30: Vec<i64>,
    secs30: Vec<i64>,
    e30: Vec<i64>,
    active_days: Vec<i64>,
    breadth: Vec<i64>,
    last_age: Vec<i64>,
}

fn window_sums(log: &UsageLog, as_of_day: NaiveDate) -> Result<WindowSums> {
    let range = log.window(as_of_day, WINDOW_DAYS)?;
    let hi = as_of_day.num_days_from_ce();
    let n = log.account_ids.len();
    let words = log.features.len().div_ceil(64).max(1);
    let (mut c7, mut p7, mut c30, mut p30) = (vec![0; n], vec![0; n], vec![0; n], vec![0; n]);
    let (mut secs30, mut e30) = (vec![0; n], vec![0; n]);
    let mut last_age = vec![i64::MAX; n];
    // Days used in the last 30 (one bit per day) and features used then (bit sets).
    let mut days = vec![0u32; n];
    let mut used = vec![0u64; n * words];
    for i in range {
        let a = log.account[i] as usize;
        let age = i64::from(hi - log.day[i]);
        let count = log.count[i];
        last_age[a] = last_age[a].min(age);
        match age {
            0..7 => c7[a] += count,
            7..14 => p7[a] += count,
            _ => {}
        }
        if age < 30 {
            c30[a] += count;
            secs30[a] += log.duration[i];
            e30[a] += log.errors[i];
            days[a] |= 1 << age;
            let f = log.feature[i] as usize;
            used[a * words + f / 64] |= 1 << (f % 64);
        } else {
            p30[a] += count;
        }
    }
    let seen: Vec<usize> = (0..n).filter(|&a| last_age[a] != i64::MAX).collect();
    let pick = |v: &[i64]| seen.iter().map(|&a| v[a]).collect::<Vec<i64>>();
    Ok(WindowSums {
        accounts: seen.iter().map(|&a| a as u32).collect(),
        c7: pick(&c7),
        p7: pick(&p7),
        c30: pick(&c30),
        p30: pick(&p30),
        secs30: pick(&secs30),
        e30: pick(&e30),
        active_days: seen
            .iter()
            .map(|&a| i64::from(days[a].count_ones()))
            .collect(),
        breadth: seen
            .iter()
            .map(|&a| {
                used[a * words..(a + 1) * words]
                    .iter()
                    .map(|w| i64::from(w.count_ones()))
                    .sum()
            })
            .collect(),
        last_age: pick(&last_age),
    })
}

impl WindowSums {
    /// The window columns of the golden record, one row per account with usage, by account.
    fn frame(&self) -> Result<DataFrame> {
        let real = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let (c7, p7, c30, p30) = (
            real(&self.c7),
            real(&self.p7),
            real(&self.c30),
            real(&self.p30),
        );
        // Relative change of a window against the one before it; no usage in either is no change.
        let velocity = |recent: &[f64], prior: &[f64]| -> Vec<f64> {
            recent
                .iter()
                .zip(prior)
                .map(|(r, p)| (r - p) / if *p > 1.0 { *p } else { 1.0 })
                .collect()
        };
        Ok(DataFrame::new(
            self.accounts.len(),
            vec![
                Column::new("account".into(), &self.accounts),
                Column::new(
                    "avg_daily_usage_count".into(),
                    c30.iter().map(|c| c / 30.0).collect::<Vec<f64>>(),
                ),
                Column::new("usage_velocity_7day".into(), velocity(&c7, &p7)),
                Column::new("usage_velocity_30day".into(), velocity(&c30, &p30)),
                Column::new("active_days_30d".into(), &self.active_days),
                Column::new("feature_breadth".into(), &self.breadth),
                Column::new(
                    "usage_minutes_30d".into(),
                    real(&self.secs30)
                        .iter()
                        .map(|s| s / 60.0)
                        .collect::<Vec<f64>>(),
                ),
                Column::new(
                    "error_rate".into(),
                    self.e30
                        .iter()
                        .zip(&c30)
                        .map(|(&e, &c)| (c > 0.0).then(|| e as f64 / c))
                        .collect::<Vec<Option<f64>>>(),
                ),
                Column::new("last_usage_age".into(), &self.last_age),
            ],
        )?)
    }
}

/// Per-account usage windows as a polars frame (one row per account with usage in the
/// window), and the account ids its `account` column indexes.
pub fn windows(conn: &Connection, as_of: &str) -> Result<(DataFrame, Vec<String>)> {
    let day = NaiveDate::parse_from_str(as_of, "%Y-%m-%d")?;
    let log = UsageLog::load(conn, day - chrono::Duration::days(WINDOW_DAYS), day)?;
    let df = windows_in(conn, &log, day)?;
    Ok((df, log.account_ids))
}

/// [`windows`] from a log loaded for a batch of dates (`conn` finds the last usage of
/// accounts idle for the whole window); the `account` column indexes the log's accounts.
pub fn windows_in(conn: &Connection, log: &UsageLog, as_of_day: NaiveDate) -> Result<DataFrame> {
    let sums = window_sums(log, as_of_day)?;
    let out = sums.frame()?;
    // Accounts idle for the whole window: their last usage by index seek, as extra rows
    // whose window columns stay empty (zero usage once composed).
    let mut seen = vec![false; log.account_ids.len()];
    for &a in &sums.accounts {
        seen[a as usize] = true;
    }
    let mut idle_ids: Vec<u32> = Vec::new();
    let mut idle_age: Vec<Option<i64>> = Vec::new();
    let as_of = &crate::workspace::dates::format_date(as_of_day);
    let idle: Vec<u32> = (0..log.account_ids.len() as u32)
        .filter(|&i| !seen[i as usize])
        .collect();
    let json = format!(
        "[{}]",
        idle.iter()
            .map(|&i| json_string(&log.account_ids[i as usize]))
            .collect::<Vec<_>>()
            .join(",")
    );
    let index: PlHashMap<&str, u32> = idle
        .iter()
        .map(|&i| (log.account_ids[i as usize].as_str(), i))
        .collect();
    let mut last =
        conn.prepare_cached(include_str!("../../assets/sql/golden/last_activity.sql"))?;
    let mut q = last.query(rusqlite::named_params! {":as_of": as_of, ":account_ids": json})?;
    while let Some(r) = q.next()? {
        let Some(&i) = index.get(r.get_ref(0)?.as_str()?) else {
            continue;
        };
        idle_ids.push(i);
        idle_age.push(match r.get_ref(1)?.as_str_or_null()? {
            Some(d) => Some((as_of_day - NaiveDate::parse_from_str(d, "%Y-%m-%d")?).num_days()),
            None => None,
        });
    }
    let n = idle_ids.len();
    let idle_cols: Vec<Column> = out
        .columns()
        .iter()
        .map(|c| match c.name().as_str() {
            "account" => Column::new("account".into(), std::mem::take(&mut idle_ids)),
            "last_usage_age" => Column::new("last_usage_age".into(), std::mem::take(&mut idle_age)),
            name => Column::full_null(name.into(), n, c.dtype()),
        })
        .collect();
    drop(q);
    drop(index);
    Ok(out.vstack(&DataFrame::new(n, idle_cols)?)?)
}

/// The same windows in plain SQLite: the baseline the polars stage is benchmarked and tested against.
pub const SQL_BASELINE: &str = include_str!("../../assets/sql/usage_windows.sql");

/// The polars usage stage as rows of values ordered by account id, reals rounded to
/// 4 decimals like the baseline: for comparing with [`baseline_rows`].
pub fn windows_rows(conn: &Connection, as_of: &str) -> Result<Vec<Vec<Value>>> {
    let (df, ids) = windows(conn, as_of)?;
    let account = df.column("account")?.u32()?;
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = vec![Value::Text(
            ids[account.get(i).context("account id")? as usize].clone(),
        )];
        for c in df.columns().iter().filter(|c| c.name() != "account") {
            row.push(match c.get(i)? {
                AnyValue::Null => Value::Null,
                AnyValue::Float64(v) => Value::Real((v * 10_000.0).round() / 10_000.0),
                AnyValue::Int64(v) => Value::Integer(v),
                other => anyhow::bail!("usage stage: unexpected value {other:?}"),
            });
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| match (&a[0], &b[0]) {
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    Ok(rows)
}

/// The same stage computed by [`SQL_BASELINE`], as rows of values.
pub fn baseline_rows(conn: &Connection, as_of: &str) -> Result<Vec<Vec<Value>>> {
    let mut stmt = conn.prepare(SQL_BASELINE)?;
    let n = stmt.column_count();
    let mut out = Vec::new();
    let mut rows = stmt.query(rusqlite::named_params! {":as_of": as_of})?;
    while let Some(r) = rows.next()? {
        out.push(
            (0..n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(super::json_string("A-1"), "\"A-1\"");
        assert_eq!(super::json_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\u000ad\"");
    }
}
