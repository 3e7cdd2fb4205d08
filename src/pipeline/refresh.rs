//! The refresh job: rebuild the golden record (later: scores and actions) for an as-of date.

use std::path::PathBuf;

use anyhow::Result;
use chrono::NaiveDate;

use crate::features::{self, GoldenRecord};
use crate::job::Reporter;
use crate::workspace::Workspace;

/// What a refresh needs: its own connection is opened on the job's thread.
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub workspace: PathBuf,
    /// `None`: the workspace's data date.
    pub as_of: Option<NaiveDate>,
}

pub fn run(req: &RefreshRequest, reporter: &Reporter) -> Result<GoldenRecord> {
    reporter.progress("opening", 0, format!("opening {}", req.workspace.display()));
    let mut ws = Workspace::open_existing(&req.workspace)?;
    let as_of = match req.as_of {
        Some(d) => d,
        None => features::default_as_of(&ws)?,
    };
    features::build_with(&mut ws, as_of, reporter)
}
