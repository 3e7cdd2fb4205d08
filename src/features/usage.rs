//! The usage windows of the golden record, computed in polars.
//!
//! SQLite would scan millions of usage rows once per window; here the rows of the
//! last [`WINDOW_DAYS`] days are read once (through the usage_date index) and
//! every window is one pass of a polars group-by. The result goes into the temp
//! table `usage_window` that the golden-record SQL joins.

use anyhow::{Context, Result};
use polars::prelude::*;
use rusqlite::Connection;

const USAGE_SQL: &str = include_str!("../../assets/sql/golden/usage.sql");

/// Days of usage the windows need (30-day trend = last 30 vs the 30 before; last activity).
pub const WINDOW_DAYS: i64 = 60;

const CREATE: &str = "CREATE TEMP TABLE IF NOT EXISTS usage_window (
    account_id TEXT PRIMARY KEY NOT NULL,
    avg_daily_usage_count REAL, usage_velocity_7day REAL, usage_velocity_30day REAL,
    active_days_30d INTEGER, feature_breadth INTEGER, usage_minutes_30d REAL,
    error_rate REAL, last_usage_age INTEGER)";

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

/// Rows of `temp.usage_window` (or of [`SQL_BASELINE`]) as text, for comparisons.
pub fn rows_as_text(conn: &Connection, sql: &str, as_of: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let n = stmt.column_count();
    let mut out = Vec::new();
    let mut rows = if sql.contains(":as_of") {
        stmt.query(rusqlite::named_params! {":as_of": as_of})?
    } else {
        stmt.query([])?
    };
    while let Some(r) = rows.next()? {
        let cells: Vec<String> = (0..n)
            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i)))
            .collect();
        out.push(cells.join("|"));
    }
    Ok(out)
}

/// Create `temp.usage_window` empty (so the golden-record SQL prepares).
pub fn fill_temp_table_empty(conn: &Connection) -> Result<()> {
    conn.execute(CREATE, [])?;
    conn.execute("DELETE FROM temp.usage_window", [])?;
    Ok(())
}

/// Compute the windows and load them into `temp.usage_window`.
pub fn fill_temp_table(conn: &Connection, as_of: &str) -> Result<usize> {
    let (df, ids) = windows(conn, as_of)?;
    write_temp_table(conn, &df, &ids)
}

/// Load computed windows into `temp.usage_window`; returns the number of accounts.
pub fn write_temp_table(conn: &Connection, df: &DataFrame, ids: &[String]) -> Result<usize> {
    fill_temp_table_empty(conn)?;
    let account = df.column("account")?.u32()?;
    let f64s = |name: &str| -> Result<&Float64Chunked> { Ok(df.column(name)?.f64()?) };
    let i64s = |name: &str| -> Result<&Int64Chunked> { Ok(df.column(name)?.i64()?) };
    let (avg, v7, v30, mins, err) = (
        f64s("avg_daily_usage_count")?,
        f64s("usage_velocity_7day")?,
        f64s("usage_velocity_30day")?,
        f64s("usage_minutes_30d")?,
        f64s("error_rate")?,
    );
    let (days, breadth, last) = (
        i64s("active_days_30d")?,
        i64s("feature_breadth")?,
        i64s("last_usage_age")?,
    );
    let mut insert = conn.prepare_cached(
        "INSERT INTO temp.usage_window VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let round = |x: Option<f64>| x.map(|v| (v * 10_000.0).round() / 10_000.0);
    for i in 0..df.height() {
        let a = account.get(i).context("account id")? as usize;
        insert.execute(rusqlite::params![
            ids[a],
            round(avg.get(i)),
            round(v7.get(i)),
            round(v30.get(i)),
            days.get(i),
            breadth.get(i),
            round(mins.get(i)),
            round(err.get(i)),
            last.get(i),
        ])?;
    }
    Ok(df.height())
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(super::json_string("A-1"), "\"A-1\"");
        assert_eq!(super::json_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\u000ad\"");
    }
}
