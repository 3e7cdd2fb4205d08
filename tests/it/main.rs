//! Integration tests, gathered in one crate so polars links once.

mod cli;
mod crosssell;
mod e2e;
mod features;
mod freshness;
mod import;
mod import_fuzz;
mod kill;
mod labels;
mod layers;
mod models;
mod pipeline;
mod simulate;
mod support;
mod tui;
mod tui_craft;
mod tui_scores;
