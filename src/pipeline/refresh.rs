//! The TUI's refresh job: run the whole pipeline and read the stored run back, or — when the
//! models cannot run on this data (too little history) — build the golden record alone so
//! the book still shows its rule scores, and say why.

use std::path::PathBuf;

use anyhow::Result;

use super::run::RunOptions;
use super::stored::{self, StoredRun};
use crate::actions::playbook::Playbook;
use crate::features::{self, GoldenRecord};
use crate::job::{Cancelled, Reporter};
use crate::workspace::{self, Workspace};

/// What a refresh needs: its own connection is opened on the job's thread.
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub workspace: PathBuf,
}

/// What a refresh produced.
#[derive(Debug, Clone)]
pub enum Refreshed {
    /// A new run, stored and read back.
    Run(Box<StoredRun>),
    /// The models could not run (`why`); the golden record was built instead.
    Record { record: GoldenRecord, why: String },
}

pub fn run(req: &RefreshRequest, reporter: &Reporter) -> Result<Refreshed> {
    reporter.progress("opening", 0, format!("opening {}", req.workspace.display()));
    let mut ws = Workspace::open_existing(&req.workspace)?;
    let opts = RunOptions {
        playbook: Playbook::resolve(None)?,
        ..RunOptions::default()
    };
    match super::execute(&mut ws, &opts, reporter) {
        Ok(_) => match stored::latest(&ws)? {
            Some(run) => Ok(Refreshed::Run(Box::new(run))),
            None => anyhow::bail!("the run was stored but cannot be read back"),
        },
        // Cancelled, or another process holds the workspace: nothing to fall back to.
        Err(e) if e.downcast_ref::<Cancelled>().is_some() || workspace::is_busy(&e) => Err(e),
        Err(e) => {
            reporter.check()?;
            let as_of = features::default_as_of(&ws)?;
            let record = features::build_with(&mut ws, as_of, reporter)?;
            Ok(Refreshed::Record {
                record,
                why: format!("{e:#}"),
            })
        }
    }
}
