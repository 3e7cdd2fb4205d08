//! Integration tests, gathered in one crate so polars links once.

mod cli;
mod import;
mod simulate;
mod support;
