//! Golden records and per-feature usage for a batch of as-of dates (the month-ends a
//! training stack needs). The usage table is read once for the whole batch ([`UsageLog`])
//! and the dates are computed on parallel read-only connections, while a write lock keeps
//! the data still so every date sees one state of the workspace.
//!
//! At 100,000 accounts, ten dates one after the other (each with its own usage scan) took
//! 24 s; see the README's pipeline table for the figure now.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::per_feature::{self, FeatureUsage};
use super::stages::StageTables;
use super::usage::{UsageLog, WINDOW_DAYS};
use super::{GoldenRecord, compute_from};
use crate::job::Reporter;
use crate::workspace::{self, Workspace};

/// Workers computing dates at once: each holds a record in flight (about 100 MB at 100,000
/// accounts), so more than a few buys little on the machines cge runs on.
const MAX_WORKERS: usize = 4;

/// Every date's golden record and per-feature usage matrix (over `usage_days` days), each
/// handed to `each` on the worker that computed it (so what `each` drops is freed at once:
/// at 100,000 accounts a record and its matrix weigh about 150 MB); their results in `dates`
/// order. `done` hears of each finished date on the calling thread. Reads only.
/// Cancellation through `reporter` stops the batch promptly.
pub fn compute_batch<T: Send>(
    ws: &mut Workspace,
    dates: &[NaiveDate],
    usage_days: i64,
    reporter: &Reporter,
    each: impl Fn(GoldenRecord, FeatureUsage) -> Result<T> + Sync,
    mut done: impl FnMut(usize, NaiveDate),
) -> Result<Vec<T>> {
    let path = ws.path().to_path_buf();
    // No large page cache: the usage is read once in order, and a cache the size of the
    // table's hot part (256 MB) was the run's peak memory at 100,000 accounts.
    let conn = ws.conn_mut();
    let flag = reporter.cancel_flag();
    conn.progress_handler(20_000, Some(move || flag.load(Ordering::Relaxed)))?;
    let result = batch_locked(conn, &path, dates, usage_days, reporter, &each, &mut done);
    conn.progress_handler(0, None::<fn() -> bool>)?;
    reporter.check()?;
    result
}

fn batch_locked<T: Send>(
    conn: &mut Connection,
    path: &std::path::Path,
    dates: &[NaiveDate],
    usage_days: i64,
    reporter: &Reporter,
    each: &(impl Fn(GoldenRecord, FeatureUsage) -> Result<T> + Sync),
    done: &mut impl FnMut(usize, NaiveDate),
) -> Result<Vec<T>> {
    let (Some(&first), Some(&last)) = (dates.iter().min(), dates.iter().max()) else {
        return Ok(Vec::new());
    };
    let cancel = reporter.cancel_flag();
    let stop = Arc::new(AtomicBool::new(false));
    let halted = || cancel.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed);
    // The write lock is never used to write (the transaction is rolled back): it keeps other
    // processes from changing the data between the workers' reads.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = first - chrono::Duration::days(usage_days.max(WINDOW_DAYS));
    // The usage log loads on this thread while the workers read the other tables for their
    // first dates; they wait for it only to cut their usage windows.
    let log: OnceLock<std::result::Result<UsageLog, String>> = OnceLock::new();
    // The other tables load once too, by the first worker (the others wait for it).
    let tables: OnceLock<std::result::Result<StageTables, String>> = OnceLock::new();
    let get_log = || -> Result<&UsageLog> {
        log.wait()
            .as_ref()
            .map_err(|e| anyhow::anyhow!("reading the usage: {e}"))
    };

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(dates.len());
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<T>> = (0..dates.len()).map(|_| None).collect();
    std::thread::scope(|scope| -> Result<()> {
        // A rendezvous: a finished date waits for the caller rather than piling up.
        let (send, receive) = mpsc::sync_channel::<(usize, Result<T>)>(0);
        for _ in 0..workers {
            let send = send.clone();
            let (next, halted, get_log, tables) = (&next, &halted, &get_log, &tables);
            let flags = [cancel.clone(), stop.clone()];
            scope.spawn(move || {
                let conn = match open_reader(path, flags) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = send.send((usize::MAX, Err(e)));
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= dates.len() || halted() {
                        return;
                    }
                    let d = dates[i];
                    let tables = tables
                        .get_or_init(|| {
                            StageTables::load(&conn, last).map_err(|e| format!("{e:#}"))
                        })
                        .as_ref()
                        .map_err(|e| anyhow::anyhow!("reading the accounts' tables: {e}"));
                    let result = tables
                        .and_then(|tables| compute_from(&conn, d, tables, get_log))
                        .and_then(|r| Ok((r, per_feature::matrix_in(get_log()?, d, usage_days)?)))
                        .with_context(|| format!("the golden record as of {d}"))
                        .and_then(|(record, usage)| each(record, usage));
                    if send.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(send);
        let loaded = UsageLog::load(&tx, from, last);
        let failed = loaded.as_ref().err().map(|e| format!("{e:#}"));
        let _ = log.set(loaded.map_err(|e| format!("{e:#}")));
        let collected = (|| -> Result<()> {
            if let Some(e) = failed {
                anyhow::bail!("reading the usage: {e}");
            }
            for n in 0..dates.len() {
                let (i, result) = receive.recv().context("a golden-record worker stopped")?;
                reporter.check()?;
                out[i] = Some(result?);
                done(n + 1, dates[i]);
            }
            Ok(())
        })();
        if collected.is_err() {
            // Workers stop at the statement they are in (the progress handler interrupts it).
            stop.store(true, Ordering::Relaxed);
        }
        drop(receive);
        collected
    })?;
    drop(tx);
    out.into_iter()
        .map(|v| v.context("a date of the batch was not computed"))
        .collect()
}

/// A read-only connection whose statements stop when either flag turns true.
fn open_reader(path: &std::path::Path, flags: [Arc<AtomicBool>; 2]) -> Result<Connection> {
    let mut c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(workspace::busy_timeout())?;
    c.progress_handler(
        20_000,
        Some(move || flags.iter().any(|f| f.load(Ordering::Relaxed))),
    )?;
    Ok(c)
}
