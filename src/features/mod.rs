//! The golden record: point-in-time account health features, one row per account per as-of date.
//!
//! SQL in `assets/sql/golden/` selects what is known at the as-of date (a bound
//! parameter; no clock): accounts signed up, subscriptions started, snapshots,
//! tickets and usage by then, and last activity by index seek. polars aggregates per
//! account ([`stages`], [`usage`]) and composes the rule stages ([`compose`]). The
//! record is materialized into the `golden_record` table and kept as a [`DataFrame`].

pub mod batch;
pub mod compose;
pub mod dictionary;
pub mod per_feature;
pub mod stages;
pub mod usage;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use polars::prelude::*;
use rusqlite::{Connection, TransactionBehavior};

use crate::job::{Cancelled, Reporter};
use crate::workspace::{self, Workspace};
use dictionary::Kind;

/// The golden record for one as-of date.
#[derive(Debug, Clone)]
pub struct GoldenRecord {
    pub as_of: NaiveDate,
    /// Identity columns and every dictionary feature, one row per account, by account_id.
    pub frame: DataFrame,
}

impl GoldenRecord {
    pub fn len(&self) -> usize {
        self.frame.height()
    }

    pub fn is_empty(&self) -> bool {
        self.frame.height() == 0
    }
}

fn date_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Create `golden_record` from the dictionary, or recreate it when the dictionary changed
/// (it is a cache of derived data: rebuilding loses nothing).
pub fn ensure_table(conn: &Connection) -> Result<()> {
    let want = wanted_columns();
    let have_current = table_is_current(conn)?;
    let keyed: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'golden_record_key'",
        [],
        |r| r.get(0),
    )?;
    if have_current && keyed {
        return Ok(());
    }
    let cols: Vec<String> = want.iter().map(|(n, t)| format!("{n} {t}")).collect();
    // A rowid table with a unique key: wide rows insert faster than into WITHOUT ROWID.
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS golden_record;
         CREATE TABLE golden_record ({});
         CREATE UNIQUE INDEX golden_record_key ON golden_record (as_of, account_id);",
        cols.join(", ")
    ))?;
    Ok(())
}

/// The golden-record table's columns and SQL types, as the dictionary says.
fn wanted_columns() -> Vec<(String, String)> {
    std::iter::once(("as_of".to_string(), "TEXT".to_string()))
        .chain(
            dictionary::columns()
                .into_iter()
                .map(|(n, k)| (n.to_string(), k.sql_type().to_string())),
        )
        .collect()
}

/// The golden-record table's columns, in order: the as-of date, then the dictionary's.
pub fn table_columns() -> Vec<&'static str> {
    std::iter::once("as_of")
        .chain(dictionary::columns().into_iter().map(|(n, _)| n))
        .collect()
}

/// The default as-of date of a workspace: the data's as-of date recorded by the import or
/// the simulator; for older workspaces, the latest usage or ticket date (never a start or
/// signup date, which may lie in the future).
pub fn default_as_of(ws: &Workspace) -> Result<NaiveDate> {
    workspace::data_as_of(ws.conn())?
        .context("the workspace holds no data yet: import or simulate some first")
}

/// Build the golden record for `as_of`, store it in `golden_record`, and return it.
pub fn build(ws: &mut Workspace, as_of: NaiveDate) -> Result<GoldenRecord> {
    build_with(ws, as_of, &Reporter::silent())
}

/// [`compute`] then [`store`], with progress reports and cancellation. A cancelled build
/// changes nothing: the stored record is replaced in one transaction.
pub fn build_with(
    ws: &mut Workspace,
    as_of: NaiveDate,
    reporter: &Reporter,
) -> Result<GoldenRecord> {
    let gr = compute(ws, as_of, reporter)?;
    reporter.progress("storing", 85, "writing the golden_record table");
    store(ws, &gr, reporter)?;
    reporter.progress(
        "done",
        100,
        format!("{} accounts as of {}", gr.len(), gr.as_of),
    );
    Ok(gr)
}

/// Compute the golden record as of `as_of`. Reads the workspace and writes nothing, so
/// models can take as many past snapshots as they need without touching the stored record.
pub fn compute(ws: &mut Workspace, as_of: NaiveDate, reporter: &Reporter) -> Result<GoldenRecord> {
    let as_of_s = date_str(as_of);
    reporter.progress(
        "aggregations",
        5,
        format!("usage, subscriptions, signals, support as of {as_of_s} (polars)"),
    );
    let path = ws.path().to_path_buf();
    let conn = ws.conn_mut();
    // Large scans: a page cache that holds them.
    workspace::bulk_cache(conn)?;
    // SQLite polls the cancel flag while a statement runs, so cancel is prompt.
    let flag = reporter.cancel_flag();
    conn.progress_handler(
        20_000,
        Some(move || flag.load(std::sync::atomic::Ordering::Relaxed)),
    )?;
    let result = compute_frame(conn, &path, as_of, reporter);
    conn.progress_handler(0, None::<fn() -> bool>)?;
    if reporter.is_cancelled() {
        return Err(Cancelled.into());
    }
    Ok(GoldenRecord {
        as_of,
        frame: result?,
    })
}

fn compute_frame(
    conn: &mut Connection,
    path: &std::path::Path,
    as_of: NaiveDate,
    reporter: &Reporter,
) -> Result<DataFrame> {
    let as_of_s = &date_str(as_of);
    // The write lock (never used to write: the transaction is rolled back) keeps other
    // processes from changing the data between this connection's reads and the second
    // connection's, so both see one state of the workspace.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Two cores: the usage windows run on a second, read-only connection while this one
    // aggregates subscriptions, signals and support (WAL readers see the committed data).
    let (windows, frames) = std::thread::scope(|scope| {
        let usage = scope.spawn(|| -> Result<(DataFrame, Vec<String>)> {
            let mut c = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(workspace::busy_timeout())?;
            let flag = reporter.cancel_flag();
            c.progress_handler(
                20_000,
                Some(move || flag.load(std::sync::atomic::Ordering::Relaxed)),
            )?;
            usage::windows(&c, as_of_s)
        });
        let frames = stages::compute(&tx, as_of);
        let windows = usage
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the usage-window stage crashed")));
        (windows, frames)
    });
    reporter.check()?;
    let (windows, window_ids) = windows?;
    let frames = frames?;
    reporter.progress(
        "golden record",
        60,
        format!("{} accounts with recent usage; composing", windows.height()),
    );
    let base = stages::accounts(&tx, as_of)?;
    let record = compose_record(base, frames, &windows, &window_ids)?;
    drop(tx);
    reporter.check()?;
    Ok(record)
}

/// The golden record as of `as_of` from tables and usage loaded for a batch of dates (see
/// [`batch`]); `conn` reads the accounts and the last activity of idle accounts. The usage
/// may still be loading when this starts (`log` waits for it). Writes nothing.
pub fn compute_from<'a>(
    conn: &Connection,
    as_of: NaiveDate,
    tables: &stages::StageTables,
    log: impl FnOnce() -> Result<&'a usage::UsageLog>,
) -> Result<GoldenRecord> {
    let frames = tables.frames(as_of)?;
    let base = stages::accounts(conn, as_of)?;
    let log = log()?;
    let windows = usage::windows_in(conn, log, as_of)?;
    let frame = compose_record(base, frames, &windows, &log.account_ids)?;
    Ok(GoldenRecord { as_of, frame })
}

/// Every account signed up by the as-of date (`base`) joined with its stage frames and usage windows, then
/// composed into the dictionary's columns.
fn compose_record(
    base: DataFrame,
    frames: stages::StageFrames,
    windows: &DataFrame,
    window_ids: &[String],
) -> Result<DataFrame> {
    let keyed = |df: &DataFrame, ids: &[String]| stages::with_account_ids(df, ids);
    let joined = base
        .lazy()
        .left_join(
            keyed(&frames.subscriptions, &frames.ids)?.lazy(),
            col("account_id"),
            col("account_id"),
        )
        .left_join(
            keyed(&frames.signals, &frames.ids)?.lazy(),
            col("account_id"),
            col("account_id"),
        )
        .left_join(
            keyed(&frames.support, &frames.ids)?.lazy(),
            col("account_id"),
            col("account_id"),
        )
        .left_join(
            keyed(windows, window_ids)?.lazy(),
            col("account_id"),
            col("account_id"),
        )
        .collect()?;
    let composed = compose::compose(joined.lazy());
    Ok(final_columns(composed)
        .sort(["account_id"], Default::default())
        .collect()?)
}

/// Store `gr` in `golden_record`, replacing any record stored for the same as-of date, in
/// one transaction. The TUI opens the record stored for the workspace's data as-of date;
/// records for other dates sit beside it and never change what it opens.
pub fn store(ws: &mut Workspace, gr: &GoldenRecord, reporter: &Reporter) -> Result<()> {
    let conn = ws.conn_mut();
    workspace::bulk_cache(conn)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    store_in(&tx, gr)?;
    reporter.check()?;
    tx.commit()?;
    Ok(())
}

/// [`store`] inside the caller's transaction (a model run stores its record with its scores).
pub fn store_in(conn: &Connection, gr: &GoldenRecord) -> Result<()> {
    let as_of_s = date_str(gr.as_of);
    ensure_table(conn)?;
    conn.execute("DELETE FROM golden_record WHERE as_of = ?1", [&as_of_s])?;
    stages::insert_frame(conn, "golden_record", Some(&as_of_s), &gr.frame)
}

/// Select the dictionary's columns, in order, with their storage types.
fn final_columns(lf: LazyFrame) -> LazyFrame {
    lf.select(
        dictionary::columns()
            .into_iter()
            .map(|(name, kind)| {
                let dtype = match kind {
                    Kind::Text => DataType::String,
                    Kind::Int | Kind::Flag => DataType::Int64,
                    Kind::Real => DataType::Float64,
                };
                col(name).cast(dtype)
            })
            .collect::<Vec<_>>(),
    )
}

/// True when `golden_record` exists with exactly the dictionary's columns (a record built
/// by an older cge with another dictionary is stale and is rebuilt, not shown).
pub fn table_is_current(conn: &Connection) -> Result<bool> {
    let mut stmt =
        conn.prepare("SELECT name, type FROM pragma_table_info('golden_record') ORDER BY cid")?;
    let have: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(have == wanted_columns())
}

/// Load the golden record stored for `as_of` into a polars frame. `None` when none is
/// stored for that date or the stored one was built with another feature dictionary.
/// Reads only.
pub fn load(ws: &Workspace, as_of: NaiveDate) -> Result<Option<GoldenRecord>> {
    let conn = ws.conn();
    if !table_is_current(conn)? {
        return Ok(None);
    }
    let as_of_s = date_str(as_of);
    let rows: i64 = conn.query_row(
        "SELECT count(*) FROM golden_record WHERE as_of = ?1",
        [&as_of_s],
        |r| r.get(0),
    )?;
    if rows == 0 {
        return Ok(None);
    }
    let columns = dictionary::columns();
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let frame = read_frame(
        conn,
        &format!(
            "SELECT {} FROM golden_record WHERE as_of = ?1 ORDER BY account_id",
            names.join(", ")
        ),
        &[&as_of_s],
        &columns,
        rows as usize,
    )?;
    Ok(Some(GoldenRecord { as_of, frame }))
}

/// The rows of a query as a polars frame: column `i` of the result is `columns[i]`, typed
/// by its kind (text, whole number or flag as Int64, real as Float64). `rows`: the rows
/// expected, so that the builders are allocated once.
pub fn read_frame(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    columns: &[(&str, Kind)],
    rows: usize,
) -> Result<DataFrame> {
    let capacity = rows.max(16);
    let mut stmt = conn.prepare(sql)?;
    // Cells go straight into polars builders (values and a validity bitmap): no String
    // per cell, and no 16-byte `Option<f64>` per number (this is the TUI's peak memory).
    enum Buf {
        Text(StringChunkedBuilder),
        Int(PrimitiveChunkedBuilder<Int64Type>),
        Real(PrimitiveChunkedBuilder<Float64Type>),
    }
    let mut bufs: Vec<Buf> = columns
        .iter()
        .map(|(n, k)| match k {
            Kind::Text => Buf::Text(StringChunkedBuilder::new((*n).into(), capacity)),
            Kind::Int | Kind::Flag => Buf::Int(PrimitiveChunkedBuilder::new((*n).into(), capacity)),
            Kind::Real => Buf::Real(PrimitiveChunkedBuilder::new((*n).into(), capacity)),
        })
        .collect();
    let mut rows = stmt.query(params)?;
    let mut height = 0;
    while let Some(r) = rows.next()? {
        for (i, b) in bufs.iter_mut().enumerate() {
            let v = r.get_ref(i)?;
            match b {
                Buf::Text(t) => t.append_option(v.as_str_or_null()?),
                Buf::Int(x) => x.append_option(v.as_i64_or_null()?),
                Buf::Real(x) => x.append_option(match v {
                    rusqlite::types::ValueRef::Integer(i) => Some(i as f64),
                    other => other.as_f64_or_null()?,
                }),
            }
        }
        height += 1;
    }
    let cols: Vec<Column> = bufs
        .into_iter()
        .map(|b| match b {
            Buf::Text(t) => t.finish().into_column(),
            Buf::Int(x) => x.finish().into_column(),
            Buf::Real(x) => x.finish().into_column(),
        })
        .collect();
    Ok(DataFrame::new(height, cols)?)
}

/// Usage events per week for one account over the `weeks` weeks ending on `as_of`
/// (oldest first): the detail pane's sparkline.
pub fn weekly_usage(
    conn: &Connection,
    account_id: &str,
    as_of: NaiveDate,
    weeks: usize,
) -> Result<Vec<u64>> {
    let as_of_s = date_str(as_of);
    let mut stmt = conn.prepare_cached(
        "SELECT CAST((julianday(?2) - julianday(u.usage_date)) / 7 AS INTEGER) AS w, sum(u.usage_count)
         FROM subscriptions s JOIN feature_usage u ON u.subscription_id = s.subscription_id
         WHERE s.account_id = ?1 AND u.usage_date <= ?2 AND u.usage_date > date(?2, ?3)
         GROUP BY w",
    )?;
    let mut out = vec![0u64; weeks];
    let span = format!("-{} days", weeks * 7);
    let mut rows = stmt.query(rusqlite::params![account_id, as_of_s, span])?;
    while let Some(r) = rows.next()? {
        let w: i64 = r.get(0)?;
        let n: i64 = r.get(1)?;
        if (0..weeks as i64).contains(&w) {
            out[weeks - 1 - w as usize] = n.max(0) as u64;
        }
    }
    Ok(out)
}

/// A short headless summary: counts by lifecycle status and each numeric feature's spread.
pub fn summary(gr: &GoldenRecord) -> Result<String> {
    let df = &gr.frame;
    let status = df.column("lifecycle_status")?.str()?;
    let count = |s: &str| status.iter().filter(|v| *v == Some(s)).count();
    let mut out = format!(
        "golden record as of {}: {} accounts ({} active, {} churned before the as-of date, {} without a subscription yet); {} features\n\n",
        gr.as_of,
        df.height(),
        count("active"),
        count("churned"),
        count("no_subscription"),
        dictionary::FEATURES.len()
    );
    out.push_str(&format!(
        "{:<28} {:>8} {:>12} {:>12} {:>12}\n",
        "feature", "filled", "min", "mean", "max"
    ));
    for f in dictionary::FEATURES {
        let c = df.column(f.name)?;
        if f.kind == Kind::Text {
            let s = c.str()?;
            let mut counts: Vec<(String, usize)> = Vec::new();
            for v in s.iter().flatten() {
                match counts.iter_mut().find(|(k, _)| k == v) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((v.to_string(), 1)),
                }
            }
            counts.sort();
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            out.push_str(&format!(
                "{:<28} {:>8}   {}\n",
                f.name,
                c.len() - c.null_count(),
                parts.join(", ")
            ));
            continue;
        }
        let s = c.cast(&DataType::Float64)?;
        let s = s.f64()?;
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
        out.push_str(&format!(
            "{:<28} {:>8} {:>12} {:>12} {:>12}\n",
            f.name,
            s.len() - s.null_count(),
            fmt(s.min()),
            fmt(s.mean()),
            fmt(s.max())
        ));
    }
    Ok(out)
}
