//! Integration tests, gathered in one crate so polars links once.

mod cli;
mod e2e;
mod features;
mod import;
mod import_fuzz;
mod kill;
mod simulate;
mod support;
mod tui;
