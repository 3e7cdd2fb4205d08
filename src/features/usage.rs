//! The usage windows of the golden record, computed in polars.
//!
//! The rows of the last [`WINDOW_DAYS`] days are read once (`assets/sql/golden/usage.sql`)
//! and every window is one pass of a polars group-by; accounts idle for the whole window
//! get their last usage from one index-seek statement.

use anyhow::{Context, Result};
use polars::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value;

const USAGE_SQL: &str = include_str!("../../assets/sql/golden/usage.sql");

/// Days of usage the windows need (30-day trend = last 30 vs the 30 before; last activity).
pub const WINDOW_DAYS: i64 = 60;

/// Raw usage rows of the window, with interned account and feature ids.
struct Rows {
    account: Vec<u32>,
    age: Vec<i32>,
    feature: Vec<u32>,
    count: Vec<i64>,
    duration: Vec<i64>,
    errors: Vec<i64>,
    account_ids: Vec<String>,
}

fn read_rows(conn: &Connection, as_of: &str) -> Result<Rows> {
    let as_of_day = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d")?;
    let mut rows = Rows {
        account: Vec::new(),
        age: Vec::new(),
        feature: Vec::new(),
        count: Vec::new(),
        duration: Vec::new(),
        errors: Vec::new(),
        account_ids: Vec::new(),
    };
    // Subscription -> account, held in memory: cheaper than a join lookup per usage row.
    let mut accounts: PlHashMap<String, u32> = PlHashMap::default();
    let subs: i64 = conn.query_row("SELECT count(*) FROM subscriptions", [], |r| r.get(0))?;
    let mut owner: PlHashMap<String, u32> =
        PlHashMap::with_capacity_and_hasher(subs.max(0) as usize, Default::default());
    {
        let mut stmt =
            conn.prepare_cached("SELECT subscription_id, account_id FROM subscriptions")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let acc = r.get_ref(1)?.as_str()?;
            let id = match accounts.get(acc) {
                Some(&i) => i,
                None => {
                    let i = rows.account_ids.len() as u32;
                    accounts.insert(acc.to_string(), i);
                    rows.account_ids.push(acc.to_string());
                    i
                }
            };
            owner.insert(r.get_ref(0)?.as_str()?.to_string(), id);
        }
    }
    let mut stmt = conn.prepare_cached(USAGE_SQL)?;
    let mut features: PlHashMap<String, u32> = PlHashMap::default();
    // Few distinct dates: parse each once.
    let mut ages: PlHashMap<String, i32> = PlHashMap::default();
    let mut q =
        stmt.query(rusqlite::named_params! {":as_of": as_of, ":window_days": WINDOW_DAYS})?;
    while let Some(r) = q.next()? {
        let sub = r.get_ref(0)?.as_str()?;
        let Some(&id) = owner.get(sub) else { continue };
        let date = r.get_ref(1)?.as_str()?;
        let age = match ages.get(date) {
            Some(&a) => a,
            None => {
                let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                    .with_context(|| format!("feature_usage.usage_date {date:?} is not a date"))?;
                let a = (as_of_day - d).num_days() as i32;
                ages.insert(date.to_string(), a);
                a
            }
        };
        let fname = r.get_ref(2)?.as_str()?;
        let f = match features.get(fname) {
            Some(&f) => f,
            None => {
                let f = features.len() as u32;
                features.insert(fname.to_string(), f);
                f
            }
        };
        rows.account.push(id);
        rows.age.push(age);
        rows.feature.push(f);
        rows.count.push(r.get_ref(3)?.as_i64()?);
        rows.duration.push(r.get_ref(4)?.as_i64()?);
        rows.errors.push(r.get_ref(5)?.as_i64()?);
    }
    Ok(rows)
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

/// Per-account usage windows as a polars frame (one row per account with usage in the window).
pub fn windows(conn: &Connection, as_of: &str) -> Result<(DataFrame, Vec<String>)> {
    let rows = read_rows(conn, as_of)?;
    let n = rows.account.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("account".into(), rows.account),
            Column::new("age".into(), rows.age),
            Column::new("feature".into(), rows.feature),
            Column::new("count".into(), rows.count),
            Column::new("duration".into(), rows.duration),
            Column::new("errors".into(), rows.errors),
        ],
    )?;
    let age = || col("age");
    let within = |lo: i32, hi: i32| age().gt_eq(lit(lo)).and(age().lt(lit(hi)));
    let last30 = || within(0, 30);
    let sum_in =
        |c: &str, lo: i32, hi: i32| col(c).filter(within(lo, hi)).sum().cast(DataType::Float64);
    // Relative change of a window against the one before it; no usage in either is no change.
    let velocity = |recent: &str, prior: &str| {
        (col(recent) - col(prior))
            / when(col(prior).gt(lit(1.0)))
                .then(col(prior))
                .otherwise(lit(1.0))
    };
    let out = df
        .lazy()
        .group_by([col("account")])
        .agg([
            sum_in("count", 0, 7).alias("c7"),
            sum_in("count", 7, 14).alias("p7"),
            sum_in("count", 0, 30).alias("c30"),
            sum_in("count", 30, 60).alias("p30"),
            col("age")
                .filter(last30())
                .n_unique()
                .cast(DataType::Int64)
                .alias("active_days_30d"),
            col("feature")
                .filter(last30())
                .n_unique()
                .cast(DataType::Int64)
                .alias("feature_breadth"),
            sum_in("duration", 0, 30).alias("secs30"),
            sum_in("errors", 0, 30).alias("e30"),
            col("age")
                .min()
                .cast(DataType::Int64)
                .alias("last_usage_age"),
        ])
        .with_columns([
            (col("c30") / lit(30.0)).alias("avg_daily_usage_count"),
            velocity("c7", "p7").alias("usage_velocity_7day"),
            velocity("c30", "p30").alias("usage_velocity_30day"),
            (col("secs30") / lit(60.0)).alias("usage_minutes_30d"),
            when(col("c30").gt(lit(0.0)))
                .then(col("e30") / col("c30"))
                .otherwise(lit(NULL))
                .alias("error_rate"),
        ])
        .select([
            col("account"),
            col("avg_daily_usage_count"),
            col("usage_velocity_7day"),
            col("usage_velocity_30day"),
            col("active_days_30d"),
            col("feature_breadth"),
            col("usage_minutes_30d"),
            col("error_rate").cast(DataType::Float64),
            col("last_usage_age"),
        ])
        .sort(["account"], Default::default())
        .collect()?;
    // Accounts idle for the whole window: their last usage by index seek, as extra rows
    // whose window columns stay empty (zero usage once composed).
    let seen: std::collections::HashSet<u32> =
        out.column("account")?.u32()?.into_no_null_iter().collect();
    let mut idle_ids: Vec<u32> = Vec::new();
    let mut idle_age: Vec<Option<i64>> = Vec::new();
    let as_of_day = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d")?;
    let idle: Vec<u32> = (0..rows.account_ids.len() as u32)
        .filter(|i| !seen.contains(i))
        .collect();
    let json = format!(
        "[{}]",
        idle.iter()
            .map(|&i| json_string(&rows.account_ids[i as usize]))
            .collect::<Vec<_>>()
            .join(",")
    );
    let index: PlHashMap<&str, u32> = idle
        .iter()
        .map(|&i| (rows.account_ids[i as usize].as_str(), i))
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
            Some(d) => {
                Some((as_of_day - chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")?).num_days())
            }
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
    let out = out.vstack(&DataFrame::new(n, idle_cols)?)?;
    Ok((out, rows.account_ids))
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
