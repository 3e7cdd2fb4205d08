//! The UI's reads and writes, done on a worker thread so that a frame never waits on the
//! disk: the selected account's detail (weekly usage and explanation), the rest of a
//! book shown as a preview, and exports. The app queues [`Request`]s; the event loop hands
//! them to the [`Loader`], whose answers come back as [`Loaded`] events.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use chrono::NaiveDate;
use polars::prelude::DataFrame;

use super::book::Book;
use crate::export;
use crate::features;
use crate::features::compose::{self, CHURN_RULES, CROSSSELL_RULES};
use crate::pipeline::stored::{self, Explanation, StoredRun};
use crate::workspace::Workspace;

/// Weeks of usage in the detail's sparkline.
pub const SPARK_WEEKS: usize = 26;

/// Something the UI needs done off its thread.
#[derive(Clone)]
pub enum Request {
    /// The selected account's weekly usage and, with a run, its explanation.
    Detail {
        account_id: String,
        as_of: NaiveDate,
        run_id: Option<i64>,
        /// The account's golden-record row (for the rules of the rule scores).
        record: DataFrame,
    },
    /// The whole book of run `run_id` (the screen shows its preview).
    Book { run_id: i64 },
    /// Write `columns` of the view of `book` (its filters and order) to `path`.
    Export {
        path: PathBuf,
        columns: Vec<&'static str>,
        book: Box<Book>,
        overwrite: bool,
        /// Titles and cells as on screen instead of keys and raw values.
        labels: bool,
    },
}

/// The answer to a [`Request`].
#[derive(Debug)]
pub enum Loaded {
    Detail(Box<Detail>),
    /// The whole book of the newest run (`None`: no run any more, e.g. the data was replaced).
    Book(Result<Option<Box<StoredRun>>, String>),
    /// Rows written, or why not.
    Exported {
        path: PathBuf,
        result: Result<usize, String>,
    },
}

/// One account's detail beyond its row: the usage series for the sparkline and its
/// explanation in the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    pub account_id: String,
    pub weekly: Vec<u64>,
    pub explanation: Option<Explanation>,
    /// The rules of the rule-based churn risk that fire ([`CHURN_RULES`] indices).
    pub churn_rules: Vec<usize>,
    /// The same for cross-sell readiness ([`CROSSSELL_RULES`]).
    pub crosssell_rules: Vec<usize>,
    /// Asked for and not here yet.
    pub loading: bool,
}

/// Serve one request on `ws` (the worker's connection; tests call it directly). `ws` is
/// `None` when the workspace could not be opened: details come back empty.
pub fn serve(ws: Option<&Workspace>, req: Request) -> Loaded {
    match req {
        Request::Detail {
            account_id,
            as_of,
            run_id,
            record,
        } => {
            let fired = |rules| -> Vec<usize> {
                compose::fired(&record, rules)
                    .ok()
                    .and_then(|rows| rows.into_iter().next())
                    .map(|row| (0..row.len()).filter(|&i| row[i]).collect())
                    .unwrap_or_default()
            };
            let weekly = ws
                .and_then(|w| {
                    features::weekly_usage(w.conn(), &account_id, as_of, SPARK_WEEKS).ok()
                })
                .unwrap_or_default();
            let explanation = match (ws, run_id) {
                (Some(w), Some(run)) => stored::explain(w.conn(), run, &account_id).ok().flatten(),
                _ => None,
            };
            Loaded::Detail(Box::new(Detail {
                account_id,
                weekly,
                explanation,
                churn_rules: fired(CHURN_RULES),
                crosssell_rules: fired(CROSSSELL_RULES),
                loading: false,
            }))
        }
        Request::Book { run_id } => Loaded::Book(match ws {
            None => Err("the workspace cannot be opened".into()),
            Some(w) => match stored::latest(w) {
                // A newer run stored meanwhile arrives on its own (the refresh job).
                Ok(Some(run)) if run.run_id == run_id => Ok(Some(Box::new(run))),
                Ok(_) => Ok(None),
                Err(e) => Err(format!("{e:#}")),
            },
        }),
        Request::Export {
            path,
            columns,
            book,
            overwrite,
            labels,
        } => {
            let (headers, rows) = super::view_csv::table(&book, &columns, labels, None);
            let result =
                export::write_csv(&path, &headers, rows, overwrite).map_err(|e| format!("{e:#}"));
            Loaded::Exported { path, result }
        }
    }
}

/// The worker thread and the way to it. Dropping it lets the worker finish what it holds
/// (an export completes) and waits for it.
pub struct Loader {
    tx: Option<Sender<Request>>,
    handle: Option<JoinHandle<()>>,
}

impl Loader {
    /// Start the worker on `workspace` (it opens its own connection); answers go to `notify`.
    pub fn spawn(workspace: PathBuf, notify: impl Fn(Loaded) + Send + 'static) -> Loader {
        let (tx, rx) = mpsc::channel::<Request>();
        let handle = std::thread::Builder::new()
            .name("cge-loader".into())
            .spawn(move || {
                let ws = Workspace::open_existing(&workspace).ok();
                while let Some(batch) = next_batch(&rx) {
                    for req in batch {
                        notify(serve(ws.as_ref(), req));
                    }
                }
            })
            .ok();
        Loader {
            tx: Some(tx),
            handle,
        }
    }

    pub fn send(&self, req: Request) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(req);
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Everything queued, waiting for at least one request; `None` once the sender is gone.
/// Of the details asked for, only the last is served: the selection has moved past the
/// others (holding `j` queues one per row).
fn next_batch(rx: &Receiver<Request>) -> Option<Vec<Request>> {
    let first = rx.recv().ok()?;
    let mut batch: Vec<Request> = std::iter::once(first).chain(rx.try_iter()).collect();
    if let Some(last) = batch
        .iter()
        .rposition(|r| matches!(r, Request::Detail { .. }))
    {
        let mut i = 0;
        batch.retain(|r| {
            let keep = !matches!(r, Request::Detail { .. }) || i == last;
            i += 1;
            keep
        });
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(id: &str) -> Request {
        Request::Detail {
            account_id: id.into(),
            as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            run_id: None,
            record: DataFrame::empty(),
        }
    }

    fn ids(batch: &[Request]) -> Vec<String> {
        batch
            .iter()
            .map(|r| match r {
                Request::Detail { account_id, .. } => account_id.clone(),
                Request::Book { run_id } => format!("book {run_id}"),
                Request::Export { .. } => "export".into(),
            })
            .collect()
    }

    #[test]
    fn a_batch_serves_only_the_last_detail_and_every_other_request_in_order() {
        let (tx, rx) = mpsc::channel();
        for r in [
            detail("A1"),
            detail("A2"),
            Request::Book { run_id: 3 },
            detail("A3"),
            detail("A4"),
        ] {
            tx.send(r).unwrap();
        }
        let batch = next_batch(&rx).unwrap();
        assert_eq!(ids(&batch), ["book 3", "A4"]);
        drop(tx);
        assert!(next_batch(&rx).is_none(), "no sender: the worker stops");
    }

    #[test]
    fn without_a_workspace_a_detail_comes_back_empty_and_a_book_as_an_error() {
        match serve(None, detail("A1")) {
            Loaded::Detail(d) => {
                assert_eq!(d.account_id, "A1");
                assert!(d.weekly.is_empty() && d.explanation.is_none() && !d.loading);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            serve(None, Request::Book { run_id: 1 }),
            Loaded::Book(Err(_))
        ));
    }
}
