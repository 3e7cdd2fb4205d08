//! `cge import DIR`: the five contract CSVs into the workspace, all or nothing.
//!
//! Files are streamed parent-first (accounts before the tables that reference
//! them) inside one immediate transaction. Every cell is parsed and checked; the
//! first errors (up to [`MAX_ERRORS`]) are collected with file, line and column,
//! and any error rolls the whole import back, so the workspace is exactly as before.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ToSql, TransactionBehavior};

use super::Workspace;
use super::contract::{ColType, Column, TABLES, Table};
use super::dates;

/// How many errors are collected before the importer stops reading.
pub const MAX_ERRORS: usize = 20;

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Swap the workspace's data for the files' data (atomically).
    pub replace: bool,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    /// Rows imported per table, in contract order.
    pub rows: Vec<(&'static str, u64)>,
    /// Non-fatal notes (ignored columns).
    pub warnings: Vec<String>,
    /// True when `--replace` removed earlier data.
    pub replaced: bool,
}

/// One problem in one cell (or row, or file) of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based physical line; `None` for file-level problems.
    pub line: Option<u64>,
    /// Column name and 1-based position in the file, when the problem is in a cell.
    pub column: Option<(String, usize)>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some((name, pos)) = &self.column {
            write!(f, ", column {pos} ({name})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The import was rejected; nothing was written.
#[derive(Debug)]
pub struct ImportErrors {
    pub errors: Vec<InputError>,
    /// More errors exist than were collected.
    pub truncated: bool,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let more = if self.truncated {
            " (stopped after the first ones)"
        } else {
            ""
        };
        writeln!(
            f,
            "import rejected: {n} error{}{more}; the workspace was not changed",
            plural(n)
        )?;
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

/// Importing into a workspace that already holds data, without `--replace`.
#[derive(Debug)]
pub struct NotEmpty {
    pub path: PathBuf,
    pub counts: Vec<(&'static str, i64)>,
}

impl fmt::Display for NotEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        write!(
            f,
            "the workspace {} already holds data ({}); pass --replace to swap it for the new files atomically, \
             or --workspace PATH to import into another workspace",
            self.path.display(),
            counts.join(", ")
        )
    }
}

impl std::error::Error for NotEmpty {}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Import the contract CSVs found in `dir`.
pub fn import_dir(ws: &mut Workspace, dir: &Path, opts: ImportOptions) -> Result<ImportReport> {
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder holding the five CSV files",
            dir.display()
        );
    }
    let ws_path = ws.path().to_path_buf();
    super::bulk_cache(ws.conn())?;
    let tx = ws
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .with_context(|| busy_context(&ws_path))?;

    let mut counts = Vec::new();
    for t in TABLES {
        let n: i64 = tx.query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| {
            r.get(0)
        })?;
        counts.push((t.name, n));
    }
    let non_empty = counts.iter().any(|(_, n)| *n > 0);
    if non_empty && !opts.replace {
        return Err(NotEmpty {
            path: ws_path,
            counts,
        }
        .into());
    }
    if non_empty {
        super::clear_derived(&tx)?;
        for t in TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", t.name), [])?;
        }
    }

    // Bulk loading into emptied tables is faster without their secondary indexes:
    // drop them here and build each once at the end, inside the same transaction.
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let indexes = super::drop_indexes(&tx, &names)?;

    let mut state = State::default();
    let mut report = ImportReport {
        replaced: non_empty,
        ..Default::default()
    };
    for table in TABLES.iter() {
        let rows = import_table(&tx, dir, table, &mut state, &mut report.warnings)?;
        report.rows.push((table.name, rows));
        if state.truncated {
            break;
        }
    }
    if !state.errors.is_empty() {
        // Dropping the transaction rolls back every insert and the replace.
        return Err(ImportErrors {
            errors: state.errors,
            truncated: state.truncated,
        }
        .into());
    }
    super::create_indexes(&tx, &indexes)?;
    tx.commit().with_context(|| busy_context(&ws_path))?;
    Ok(report)
}

fn busy_context(path: &Path) -> String {
    format!(
        "cannot write to the workspace {} (another cge process may be using it; it waited {} s)",
        path.display(),
        super::busy_timeout().as_secs_f32()
    )
}

#[derive(Default)]
struct State {
    errors: Vec<InputError>,
    truncated: bool,
    /// Ids seen per table (for uniqueness and for references into it).
    ids: HashMap<&'static str, HashSet<String>>,
    /// Tables whose ids are unknown (file or id column missing): skip references into them.
    unknown_ids: HashSet<&'static str>,
}

impl State {
    fn push(&mut self, e: InputError) {
        if self.errors.len() >= MAX_ERRORS {
            self.truncated = true;
        } else {
            self.errors.push(e);
        }
    }
}

#[derive(Debug)]
/// A parsed cell, borrowing text from the CSV record so bulk loads don't allocate per cell.
enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Cell::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Cell::Real(r) => ToSqlOutput::Borrowed(ValueRef::Real(*r)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn is_null_token(s: &str) -> bool {
    s.is_empty()
        || ["none", "nan", "null"]
            .iter()
            .any(|t| s.eq_ignore_ascii_case(t))
}

/// Parse one cell by its contract type; `Err` holds what was expected.
fn parse_cell<'a>(raw: &'a str, col: &Column) -> std::result::Result<Cell<'a>, String> {
    let s = raw.trim();
    if is_null_token(s) {
        return if col.nullable {
            Ok(Cell::Null)
        } else {
            Err(format!(
                "expected {}, found an empty value",
                col.ty.expected()
            ))
        };
    }
    let bad = || format!("expected {}, found {:?}", col.ty.expected(), raw);
    match col.ty {
        ColType::Text => Ok(Cell::Text(Cow::Borrowed(s))),
        ColType::Int => match s.parse::<i64>() {
            Ok(i) => Ok(Cell::Int(i)),
            // Spreadsheets and pandas write whole numbers as `12.0`.
            Err(_) => match s.parse::<f64>() {
                Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Ok(Cell::Int(f as i64))
                }
                _ => Err(bad()),
            },
        },
        ColType::Real => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Cell::Real(f)),
            _ => Err(bad()),
        },
        ColType::Bool => match s {
            "1" => Ok(Cell::Int(1)),
            "0" => Ok(Cell::Int(0)),
            _ if s.eq_ignore_ascii_case("true") => Ok(Cell::Int(1)),
            _ if s.eq_ignore_ascii_case("false") => Ok(Cell::Int(0)),
            _ => Err(bad()),
        },
        ColType::Date => match dates::parse_date(s) {
            Some(d) if s.len() == 10 => {
                let _ = d;
                Ok(Cell::Text(Cow::Borrowed(s)))
            }
            Some(d) => Ok(Cell::Text(Cow::Owned(dates::format_date(d)))),
            None => Err(bad()),
        },
        ColType::DateTime => match dates::parse_datetime(s) {
            Some(_) if s.len() == 19 && s.as_bytes()[10] == b' ' => {
                Ok(Cell::Text(Cow::Borrowed(s)))
            }
            Some(dt) => Ok(Cell::Text(Cow::Owned(dates::format_datetime(dt)))),
            None => Err(bad()),
        },
    }
}

fn import_table(
    tx: &rusqlite::Transaction<'_>,
    dir: &Path,
    table: &'static Table,
    state: &mut State,
    warnings: &mut Vec<String>,
) -> Result<u64> {
    let path = dir.join(table.file_name());
    let file_err = |line: Option<u64>, message: String| InputError {
        file: path.clone(),
        line,
        column: None,
        message,
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            state.push(file_err(None, format!("cannot read the file: {e}")));
            state.unknown_ids.insert(table.name);
            return Ok(0);
        }
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));

    // Map contract columns to positions in this file's header.
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            state.push(file_err(
                Some(1),
                format!("cannot read the header row: {e}"),
            ));
            state.unknown_ids.insert(table.name);
            return Ok(0);
        }
    };
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let mut positions: Vec<Option<usize>> = Vec::with_capacity(table.columns.len());
    let mut header_ok = true;
    for col in table.columns {
        let found: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.as_str() == col.name)
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [] if col.optional => positions.push(None),
            [] => {
                header_ok = false;
                state.push(file_err(
                    Some(1),
                    format!("missing required column {:?}", col.name),
                ));
                positions.push(None);
            }
            [i] => positions.push(Some(*i)),
            [_, second, ..] => {
                header_ok = false;
                state.push(InputError {
                    file: path.clone(),
                    line: Some(1),
                    column: Some((col.name.to_string(), second + 1)),
                    message: "column appears more than once in the header".into(),
                });
                positions.push(None);
            }
        }
    }
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| table.column(n).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "{}: ignored unknown column{} {}",
            path.display(),
            plural(unknown.len()),
            unknown.join(", ")
        ));
    }
    if !header_ok {
        state.unknown_ids.insert(table.name);
        return Ok(0);
    }

    let id_idx = table
        .columns
        .iter()
        .position(|c| c.name == table.id)
        .expect("contract id is a column");
    let refs: Vec<(usize, &'static str)> = table
        .references
        .iter()
        .map(|r| {
            (
                table
                    .columns
                    .iter()
                    .position(|c| c.name == r.column)
                    .expect("contract reference"),
                r.table,
            )
        })
        .collect();

    let col_list: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let placeholders = vec!["?"; col_list.len()].join(", ");
    let mut insert = tx.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({placeholders})",
        table.name,
        col_list.join(", ")
    ))?;

    let mut own_ids: HashSet<String> = HashSet::new();
    let keep_ids = table.unique_id
        || TABLES
            .iter()
            .any(|t| t.references.iter().any(|r| r.table == table.name));
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line());
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("expected {expected_len} fields like the header, found {len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
                    _ => e.to_string(),
                };
                state.push(file_err(line, message));
                if state.truncated
                    || !matches!(
                        e.kind(),
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                    )
                {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let errors_before = state.errors.len();
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(table.columns.len());
        for (col, pos) in table.columns.iter().zip(&positions) {
            let raw = pos.and_then(|i| record.get(i)).unwrap_or("");
            match parse_cell(raw, col) {
                Ok(c) => cells.push(c),
                Err(message) => {
                    state.push(InputError {
                        file: path.clone(),
                        line: Some(line),
                        column: Some((col.name.to_string(), pos.map_or(0, |p| p + 1))),
                        message,
                    });
                    cells.push(Cell::Null);
                }
            }
        }
        let col_ref = |i: usize| {
            Some((
                table.columns[i].name.to_string(),
                positions[i].map_or(0, |p| p + 1),
            ))
        };
        // Ids are remembered only where they must be unique or are referenced.
        if let (true, Cell::Text(id)) = (keep_ids, &cells[id_idx]) {
            let fresh = own_ids.insert(id.to_string());
            if !fresh && table.unique_id {
                state.push(InputError {
                    file: path.clone(),
                    line: Some(line),
                    column: col_ref(id_idx),
                    message: format!("duplicate {} {:?}: ids must be unique", table.id, id),
                });
            }
        }
        for &(i, parent) in &refs {
            if state.unknown_ids.contains(parent) {
                continue;
            }
            if let Cell::Text(v) = &cells[i] {
                let known = state
                    .ids
                    .get(parent)
                    .is_some_and(|ids| ids.contains(v.as_ref()));
                if !known {
                    state.push(InputError {
                        file: path.clone(),
                        line: Some(line),
                        column: col_ref(i),
                        message: format!(
                            "{} {:?} is not in {parent}.csv",
                            table.columns[i].name, v
                        ),
                    });
                }
            }
        }
        // Once anything is wrong, keep validating but stop writing.
        if state.errors.is_empty() && errors_before == 0 {
            insert.execute(rusqlite::params_from_iter(cells.iter()))?;
            rows += 1;
        }
        if state.truncated {
            break;
        }
    }
    state.ids.insert(table.name, own_ids);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::contract::{ACCOUNTS, SUPPORT_TICKETS};

    fn col(t: &Table, name: &str) -> Column {
        *t.column(name).unwrap()
    }

    fn show(c: Cell<'_>) -> String {
        match c {
            Cell::Null => "NULL".into(),
            Cell::Int(i) => format!("i{i}"),
            Cell::Real(r) => format!("r{r}"),
            Cell::Text(s) => format!("t{s}"),
        }
    }

    #[test]
    fn cells_parse_by_type() {
        let trial = col(&ACCOUNTS, "is_trial");
        for (raw, want) in [
            ("True", "i1"),
            ("false", "i0"),
            ("1", "i1"),
            ("0", "i0"),
            ("TRUE", "i1"),
        ] {
            assert_eq!(show(parse_cell(raw, &trial).unwrap()), want, "{raw}");
        }
        assert!(parse_cell("yes", &trial).unwrap_err().contains("boolean"));
        assert!(parse_cell("", &trial).unwrap_err().contains("empty"));

        let sat = col(&SUPPORT_TICKETS, "satisfaction_score");
        for raw in ["", "None", "NaN", "null", "NULL", " nan "] {
            assert_eq!(show(parse_cell(raw, &sat).unwrap()), "NULL", "{raw:?}");
        }
        assert_eq!(show(parse_cell("4.5", &sat).unwrap()), "r4.5");

        let seats = col(&ACCOUNTS, "seats");
        assert_eq!(show(parse_cell("12", &seats).unwrap()), "i12");
        assert_eq!(show(parse_cell("12.0", &seats).unwrap()), "i12");
        assert!(parse_cell("12.5", &seats).is_err());
        assert!(
            parse_cell("twelve", &seats)
                .unwrap_err()
                .contains("whole number")
        );

        let closed = col(&SUPPORT_TICKETS, "closed_at");
        assert_eq!(
            show(parse_cell("2024-01-02", &closed).unwrap()),
            "t2024-01-02 00:00:00"
        );
        assert_eq!(
            show(parse_cell("2024-01-02T03:04:05", &closed).unwrap()),
            "t2024-01-02 03:04:05"
        );
        let submitted = col(&SUPPORT_TICKETS, "submitted_at");
        assert_eq!(
            show(parse_cell("2024-01-02 03:04:05", &submitted).unwrap()),
            "t2024-01-02"
        );
        assert!(
            parse_cell("2024-02-30", &submitted)
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
    }
}
