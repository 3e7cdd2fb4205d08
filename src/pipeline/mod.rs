//! The pipeline: the core's stages in order as one job — golden records → models →
//! actions → forecast → persist — with progress, cancellation and run history.

pub mod history;
pub mod refresh;
pub mod run;
pub mod stored;

use anyhow::Result;

use crate::job::Reporter;
use crate::workspace::Workspace;

/// Run the whole pipeline and store the run; returns its id and report. Cancelled, failed
/// or killed before the final commit, it leaves the stored runs exactly as they were.
pub fn execute(
    ws: &mut Workspace,
    opts: &run::RunOptions,
    reporter: &Reporter,
) -> Result<(i64, run::RunReport)> {
    let mut report = run::run(ws, opts, reporter)?;
    let id = run::store(ws, &mut report, opts, reporter)?;
    reporter.progress("done", 100, format!("stored as run {id}"));
    Ok((id, report))
}
