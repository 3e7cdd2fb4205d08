//! cge — the Compound Growth Engine.
//!
//! The core (data → features → models → actions → pipeline → export) runs
//! without a terminal; `tui` sits on top and only calls into it.

pub mod actions;
pub mod export;
pub mod features;
pub mod job;
pub mod models;
pub mod pipeline;
pub mod simulate;
pub mod tui;
pub mod workspace;
