//! `cge import DIR`: the five contract CSVs into the workspace, all or nothing.
//!
//! Files are streamed parent-first (accounts before the tables that reference
//! them) inside one immediate transaction. Every cell is checked against its
//! contract column (type, value set, range, control characters) and every row
//! against its references and date order; the first errors (up to [`MAX_ERRORS`])
//! are collected with file, physical line and column, and any error rolls the whole
//! import back, so the workspace is exactly as before. A successful import records
//! the data's as-of date in the meta table, in the same transaction.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ToSql, TransactionBehavior};

use super::Workspace;
use super::contract::{ACTIVITY_DATES, ColType, Column, Strictness, TABLES, Table};
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
    /// Non-fatal notes (ignored columns, descriptive values outside their set).
    pub warnings: Vec<String>,
    /// True when `--replace` removed earlier data.
    pub replaced: bool,
    /// The data's as-of date, recorded as `data_as_of` in the workspace meta table:
    /// the latest usage or ticket date, else the latest date anywhere; `None` when
    /// the files hold no rows.
    pub data_as_of: Option<NaiveDate>,
    /// True when `data_as_of` is the latest usage or ticket date (not the fallback).
    pub as_of_from_activity: bool,
    /// Rows (kept) whose event date is after `data_as_of`, per table that has some.
    pub future_rows: Vec<(&'static str, u64)>,
    /// Subscriptions (kept) whose ARR is not 12 × MRR: discounts exist.
    pub arr_mismatches: u64,
}

impl ImportReport {
    /// `data as of 2024-12-31 (the latest usage or ticket date)`.
    pub fn as_of_note(&self) -> Option<String> {
        let basis = if self.as_of_from_activity {
            "the latest usage or ticket date"
        } else {
            "the latest date in the files, which hold no usage or tickets"
        };
        self.data_as_of
            .map(|d| format!("data as of {} ({basis})", dates::format_date(d)))
    }

    /// `3 rows dated after the data's as-of date 2024-12-31: accounts 1, subscriptions 2`.
    pub fn future_rows_warning(&self) -> Option<String> {
        let as_of = self.data_as_of?;
        let total: u64 = self.future_rows.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let per_table: Vec<String> = self
            .future_rows
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        Some(format!(
            "{total} row{} dated after the data's as-of date {}: {}",
            plural(total as usize),
            dates::format_date(as_of),
            per_table.join(", ")
        ))
    }

    /// `12 subscriptions have ARR ≠ 12 × MRR (kept)`.
    pub fn arr_note(&self) -> Option<String> {
        match self.arr_mismatches {
            0 => None,
            1 => Some("1 subscription has ARR ≠ 12 × MRR (kept)".into()),
            n => Some(format!("{n} subscriptions have ARR ≠ 12 × MRR (kept)")),
        }
    }
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
    record_as_of(&tx, &state, &mut report)?;
    report.arr_mismatches = state.arr_mismatches;
    super::create_indexes(&tx, &indexes)?;
    tx.commit().with_context(|| busy_context(&ws_path))?;
    Ok(report)
}

/// Record the data's as-of date in the meta table (same transaction) and count the
/// rows dated after it. Such rows are kept: the date stays where the activity ends.
fn record_as_of(
    tx: &rusqlite::Transaction<'_>,
    state: &State,
    report: &mut ImportReport,
) -> Result<()> {
    let (as_of, from_activity) = match (&state.latest_activity, &state.latest_any) {
        (Some(d), _) => (d, true),
        (None, Some(d)) => (d, false),
        (None, None) => return Ok(()),
    };
    super::set_meta(tx, "data_as_of", as_of)?;
    report.data_as_of = dates::parse_iso_date(as_of);
    report.as_of_from_activity = from_activity;
    for (table, latest) in &state.max_event {
        if latest > as_of {
            let n: i64 = tx.query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {} > ?1",
                    table.name, table.event_date
                ),
                [as_of],
                |r| r.get(0),
            )?;
            report.future_rows.push((table.name, n as u64));
        }
    }
    Ok(())
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
    /// Latest usage or ticket date, and latest date of any column (`YYYY-MM-DD`).
    latest_activity: Option<String>,
    latest_any: Option<String>,
    /// Latest event date per table, to count future rows only where there are some.
    max_event: Vec<(&'static Table, String)>,
    arr_mismatches: u64,
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

/// Parse one cell by its contract type; `Err` says what was expected and what was found.
fn parse_cell<'a>(raw: &'a str, col: &Column) -> std::result::Result<Cell<'a>, String> {
    let s = raw.trim();
    if is_null_token(s) {
        return if col.nullable {
            Ok(Cell::Null)
        } else {
            Err(format!("expected {}, found an empty value", col.expected()))
        };
    }
    let bad = || format!("expected {}, found {}", col.expected(), shown(raw));
    let in_range = |x: f64| col.range.is_none_or(|(lo, hi)| lo <= x && x <= hi);
    match col.ty {
        ColType::Text | ColType::FreeText => {
            if let Some((set, strictness)) = col.values {
                // Features compare exact spellings: store the canonical one.
                if let Some(v) = set.iter().find(|v| v.eq_ignore_ascii_case(s)) {
                    return Ok(Cell::Text(Cow::Borrowed(v)));
                }
                if strictness == Strictness::Strict {
                    return Err(bad());
                }
            }
            let multiline = col.ty == ColType::FreeText;
            if has_control(s, multiline) {
                let allowed = if multiline {
                    " other than tab and line breaks"
                } else {
                    ""
                };
                return Err(format!(
                    "expected text without control characters{allowed}, found {}",
                    shown(raw)
                ));
            }
            Ok(Cell::Text(Cow::Borrowed(s)))
        }
        ColType::Int => {
            let i = match s.parse::<i64>() {
                Ok(i) => i,
                // Spreadsheets and pandas write whole numbers as `12.0`.
                Err(_) => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                    _ => return Err(bad()),
                },
            };
            if in_range(i as f64) {
                Ok(Cell::Int(i))
            } else {
                Err(bad())
            }
        }
        ColType::Real => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && in_range(f) => Ok(Cell::Real(f)),
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
            Some(_) if s.len() == 10 => Ok(Cell::Text(Cow::Borrowed(s))),
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

/// True when `s` holds a control character (C0, DEL or C1). A NUL is stored by SQLite
/// but truncates the text on read; in free text, tab and line breaks are kept.
fn has_control(s: &str, multiline: bool) -> bool {
    // Fast path: every control character is a byte < 0x20, 0x7f, or starts with 0xc2.
    if !s.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
        return false;
    }
    s.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
}

/// The physical line (1-based, as `grep -n` and editors count) where the record read
/// at `pos` starts.
///
/// The csv crate's `Position::line()` counts the `\n` bytes consumed before the
/// record, but a CRLF row ends at its `\r` (its `\n` is consumed with the next
/// record), and blank lines before a record are skipped silently: that count is one
/// short on every CRLF file. The bytes skipped are only `\r` and `\n`, so read them at
/// the record's byte offset and add their newlines. Called only for records with
/// errors, so reopening the file costs nothing on the happy path.
fn record_line(path: &Path, pos: &csv::Position) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let mut line = pos.line();
    let Ok(mut f) = std::fs::File::open(path) else {
        return line;
    };
    if f.seek(SeekFrom::Start(pos.byte())).is_err() {
        return line;
    }
    let mut buf = [0u8; 4096];
    let mut first = pos.byte() == 0;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => return line,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if std::mem::take(&mut first) {
            chunk = chunk.strip_prefix(b"\xef\xbb\xbf").unwrap_or(chunk);
        }
        for &b in chunk {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => return line,
            }
        }
    }
}

/// The line of the last byte read before `pos` (the end of a record).
fn end_line(path: &Path, pos: &csv::Position) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8];
    let ends_line = pos.byte() > 0
        && std::fs::File::open(path)
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(pos.byte() - 1))?;
                f.read_exact(&mut last)
            })
            .is_ok()
        && last[0] == b'\n';
    pos.line() - u64::from(ends_line)
}

/// True when the record starting at byte `start` ends (at the end of the file) inside
/// an open quote. The csv reader takes such a quote as a field running to the end of
/// the file, which in a free-text column would swallow every later row silently.
fn ends_in_open_quote(path: &Path, start: u64) -> bool {
    use std::io::{BufRead, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if f.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    let (mut quoted, mut field_start, mut just_closed) = (false, true, false);
    let mut rdr = std::io::BufReader::new(f);
    loop {
        let buf = match rdr.fill_buf() {
            Ok([]) | Err(_) => return quoted,
            Ok(buf) => buf,
        };
        for &b in buf {
            if quoted {
                if b == b'"' {
                    (quoted, just_closed) = (false, true);
                }
                continue;
            }
            // `""` inside quotes is an escaped quote: the field stays open.
            if b == b'"' && (field_start || just_closed) {
                quoted = true;
            }
            field_start = matches!(b, b',' | b'\r' | b'\n');
            just_closed = false;
        }
        let n = buf.len();
        rdr.consume(n);
    }
}

/// A value for a message: quoted and escaped (so NUL or a tab is visible), cut when long.
fn shown(raw: &str) -> String {
    const MAX_CHARS: usize = 60;
    match raw.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &raw[..cut]),
        None => format!("{raw:?}"),
    }
}

/// Remember `day` in `slot` if it is later (ISO dates compare as text).
fn bump(slot: &mut Option<String>, day: &str) {
    if slot.as_deref().is_none_or(|m| day > m) {
        *slot = Some(day.to_string());
    }
}

/// Column position of a contract column in this file's header, for messages.
fn at(table: &Table, positions: &[Option<usize>], i: usize) -> Option<(String, usize)> {
    Some((
        table.columns[i].name.to_string(),
        positions[i].map_or(0, |p| p + 1),
    ))
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
    // Flexible: a ragged row is reported here, with its fields at hand for a hint.
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);

    // Map contract columns to positions in this file's header.
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let (line, message) = match e.kind() {
                csv::ErrorKind::Utf8 { pos, .. } => (
                    Some(pos.as_ref().map_or(1, |p| record_line(&path, p))),
                    "expected a header row in UTF-8, found bytes that are not UTF-8 (save the file as UTF-8)"
                        .to_string(),
                ),
                _ => (None, format!("cannot read the header row: {e}")),
            };
            state.push(file_err(line, message));
            state.unknown_ids.insert(table.name);
            return Ok(0);
        }
    };
    if headers.iter().all(|h| h.trim().is_empty()) {
        state.push(file_err(
            None,
            "the file is empty: expected a header row naming the columns".into(),
        ));
        state.unknown_ids.insert(table.name);
        return Ok(0);
    }
    let header_line = headers.position().map_or(1, |p| record_line(&path, p));
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
                    Some(header_line),
                    format!("missing required column {:?}", col.name),
                ));
                positions.push(None);
            }
            [i] => positions.push(Some(*i)),
            [_, second, ..] => {
                header_ok = false;
                state.push(InputError {
                    file: path.clone(),
                    line: Some(header_line),
                    column: Some((col.name.to_string(), second + 1)),
                    message: "column appears more than once in the header".into(),
                });
                positions.push(None);
            }
        }
    }
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| table.column(n).is_none())
        .map(|n| {
            if n.chars().any(char::is_control) || n.chars().count() > 40 {
                shown(n)
            } else {
                n.clone()
            }
        })
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

    let index = |name: &str| {
        table
            .columns
            .iter()
            .position(|c| c.name == name)
            .expect("a contract column")
    };
    let id_idx = index(table.id);
    let refs: Vec<(usize, &'static str)> = table
        .references
        .iter()
        .map(|r| (index(r.column), r.table))
        .collect();
    let order: Vec<(usize, usize)> = table
        .not_before
        .iter()
        .map(|(later, earlier)| (index(later), index(earlier)))
        .collect();
    let date_idx: Vec<usize> = (0..table.columns.len())
        .filter(|&i| matches!(table.columns[i].ty, ColType::Date | ColType::DateTime))
        .collect();
    let event_idx = index(table.event_date);
    let activity = ACTIVITY_DATES
        .iter()
        .any(|&(t, c)| t == table.name && c == table.event_date);
    // Discounts make ARR ≠ 12 × MRR legitimately: counted, not rejected.
    let arr_check =
        (table.name == "subscriptions").then(|| (index("mrr_amount"), index("arr_amount")));
    let mut unlisted: Vec<HashMap<String, u64>> = vec![HashMap::new(); table.columns.len()];
    let mut max_event: Option<String> = None;

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
    // Problems of the current row: (column, message); its line is looked up only if any.
    let mut problems: Vec<(Option<(String, usize)>, String)> = Vec::new();
    // The latest well-shaped record spanning lines: if it is the last one, a quote
    // may have swallowed the rest of the file into its last field.
    let mut multiline: Option<(csv::Position, usize)> = None;
    loop {
        problems.clear();
        let pos = match rdr.read_record(&mut record) {
            Ok(false) => {
                if let Some((pos, field)) = multiline.take()
                    && ends_in_open_quote(&path, pos.byte())
                {
                    state.push(InputError {
                        file: path.clone(),
                        line: Some(record_line(&path, &pos)),
                        column: Some((names[field].clone(), field + 1)),
                        message: "expected a closing quote: this quoted value runs to the end of the file"
                            .into(),
                    });
                }
                break;
            }
            Ok(true) => record.position().cloned(),
            Err(e) => {
                multiline = None;
                let pos = e.position().cloned();
                let line = pos.as_ref().map(|p| record_line(&path, p));
                match e.kind() {
                    csv::ErrorKind::Utf8 { err, .. } => {
                        let column = names.get(err.field()).map(|n| (n.clone(), err.field() + 1));
                        state.push(InputError {
                            file: path.clone(),
                            line,
                            column,
                            message: "expected UTF-8 text, found bytes that are not UTF-8 (save the file as UTF-8)"
                                .into(),
                        });
                        if state.truncated {
                            break;
                        }
                        continue;
                    }
                    _ => {
                        state.push(file_err(line, format!("cannot read the file: {e}")));
                        break;
                    }
                }
            }
        };
        let line_of = |pos: &Option<csv::Position>| pos.as_ref().map(|p| record_line(&path, p));
        if record.len() != names.len() {
            multiline = None;
            let mut message = format!(
                "expected {} fields like the header, found {}",
                names.len(),
                record.len()
            );
            let start = line_of(&pos);
            if record.as_slice().contains('\n') {
                message.push_str(&format!(
                    "; the row runs on inside quotes to line {} (is a closing quote missing?)",
                    end_line(&path, rdr.position())
                ));
            }
            state.push(file_err(start, message));
            if state.truncated {
                break;
            }
            continue;
        }
        multiline = (record.as_slice().contains('\n'))
            .then(|| pos.clone())
            .flatten()
            .map(|p| (p, record.len() - 1));
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(table.columns.len());
        for (i, (col, pos)) in table.columns.iter().zip(&positions).enumerate() {
            let raw = pos.and_then(|p| record.get(p)).unwrap_or("");
            match parse_cell(raw, col) {
                Ok(c) => {
                    if let (Some((set, Strictness::Lenient)), Cell::Text(v)) = (col.values, &c)
                        && !set.contains(&v.as_ref())
                    {
                        *unlisted[i].entry(v.to_string()).or_default() += 1;
                    }
                    cells.push(c);
                }
                Err(message) => {
                    problems.push((at(table, &positions, i), message));
                    cells.push(Cell::Null);
                }
            }
        }
        for &i in &date_idx {
            if let Cell::Text(v) = &cells[i] {
                let day = &v[..10];
                bump(&mut state.latest_any, day);
                if i == event_idx {
                    bump(&mut max_event, day);
                    if activity {
                        bump(&mut state.latest_activity, day);
                    }
                }
            }
        }
        for &(later, earlier) in &order {
            if let (Cell::Text(a), Cell::Text(b)) = (&cells[later], &cells[earlier])
                && a[..10] < b[..10]
            {
                problems.push((
                    at(table, &positions, later),
                    format!(
                        "{} {a} is before {} {b}",
                        table.columns[later].name, table.columns[earlier].name
                    ),
                ));
            }
        }
        if let Some((mrr, arr)) = arr_check
            && let (Cell::Real(m), Cell::Real(a)) = (&cells[mrr], &cells[arr])
            && (a - 12.0 * m).abs() > 0.005
        {
            state.arr_mismatches += 1;
        }
        // Ids are remembered only where they must be unique or are referenced.
        if let (true, Cell::Text(id)) = (keep_ids, &cells[id_idx]) {
            let fresh = own_ids.insert(id.to_string());
            if !fresh && table.unique_id {
                problems.push((
                    at(table, &positions, id_idx),
                    format!("duplicate {} {}: ids must be unique", table.id, shown(id)),
                ));
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
                    problems.push((
                        at(table, &positions, i),
                        format!(
                            "{} {} is not in {parent}.csv",
                            table.columns[i].name,
                            shown(v)
                        ),
                    ));
                }
            }
        }
        if problems.is_empty() {
            // Once anything is wrong, keep validating but stop writing.
            if state.errors.is_empty() {
                insert.execute(rusqlite::params_from_iter(cells.iter()))?;
                rows += 1;
            }
        } else {
            let line = line_of(&pos);
            for (column, message) in problems.drain(..) {
                state.push(InputError {
                    file: path.clone(),
                    line,
                    column,
                    message,
                });
            }
        }
        if state.truncated {
            break;
        }
    }
    state.ids.insert(table.name, own_ids);
    if let Some(m) = max_event {
        state.max_event.push((table, m));
    }
    for (i, counts) in unlisted.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
        warnings.push(unlisted_warning(&path, table, &positions, i, counts));
    }
    Ok(rows)
}

/// One warning per descriptive column with values outside its set, most frequent first.
fn unlisted_warning(
    path: &Path,
    table: &Table,
    positions: &[Option<usize>],
    i: usize,
    counts: &HashMap<String, u64>,
) -> String {
    const SHOWN: usize = 5;
    let col = &table.columns[i];
    let set = col.values.map_or(&[][..], |(s, _)| s);
    let total: u64 = counts.values().sum();
    let mut by_count: Vec<(&String, &u64)> = counts.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut listed: Vec<String> = by_count
        .iter()
        .take(SHOWN)
        .map(|(v, n)| format!("{} ×{n}", shown(v)))
        .collect();
    if by_count.len() > SHOWN {
        listed.push(format!("and {} more", by_count.len() - SHOWN));
    }
    let (n, verb) = if total == 1 {
        ("1 value is".to_string(), "was")
    } else {
        (format!("{total} values are"), "were")
    };
    format!(
        "{}, column {} ({}): {n} not in the contract's set ({}) and {verb} kept as written: {}",
        path.display(),
        positions[i].map_or(0, |p| p + 1),
        col.name,
        set.join(", "),
        listed.join(", ")
    )
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

    #[test]
    fn value_sets_store_the_canonical_spelling() {
        use crate::workspace::contract::{CHURN_EVENTS, SUBSCRIPTIONS};
        let billing = col(&SUBSCRIPTIONS, "billing_frequency");
        for raw in ["annual", "Annual", " ANNUAL ", "aNnUaL"] {
            assert_eq!(
                show(parse_cell(raw, &billing).unwrap()),
                "tannual",
                "{raw:?}"
            );
        }
        assert_eq!(
            parse_cell("yearly", &billing).unwrap_err(),
            "expected one of monthly, annual, found \"yearly\""
        );
        assert_eq!(
            parse_cell("", &billing).unwrap_err(),
            "expected one of monthly, annual, found an empty value"
        );
        let tier = col(&ACCOUNTS, "plan_tier");
        assert_eq!(show(parse_cell("pro", &tier).unwrap()), "tPro");
        // Descriptive: kept as written (trimmed); the caller counts it for a warning.
        assert_eq!(show(parse_cell(" Platinum ", &tier).unwrap()), "tPlatinum");
        let priority = col(&SUPPORT_TICKETS, "priority");
        assert_eq!(show(parse_cell("HIGH", &priority).unwrap()), "thigh");
        let reason = col(&CHURN_EVENTS, "reason_code");
        assert_eq!(show(parse_cell("Pricing", &reason).unwrap()), "tpricing");
    }

    #[test]
    fn ranges_and_control_characters() {
        let seats = col(&ACCOUNTS, "seats");
        assert_eq!(show(parse_cell("0", &seats).unwrap()), "i0");
        assert_eq!(
            parse_cell("-1", &seats).unwrap_err(),
            "expected a whole number ≥ 0, found \"-1\""
        );
        let sat = col(&SUPPORT_TICKETS, "satisfaction_score");
        assert_eq!(show(parse_cell("1", &sat).unwrap()), "r1");
        assert_eq!(show(parse_cell("5.0", &sat).unwrap()), "r5");
        assert_eq!(
            parse_cell("5.5", &sat).unwrap_err(),
            "expected a number from 1 to 5, found \"5.5\""
        );
        let name = col(&ACCOUNTS, "account_name");
        assert_eq!(show(parse_cell("Café", &name).unwrap()), "tCafé");
        assert_eq!(
            parse_cell("a\u{1b}[31mb", &name).unwrap_err(),
            "expected text without control characters, found \"a\\u{1b}[31mb\""
        );
        let long = format!("x\0{}", "y".repeat(100));
        assert_eq!(
            parse_cell(&long, &name).unwrap_err(),
            format!(
                "expected text without control characters, found \"x\\0{}\"…",
                "y".repeat(58)
            )
        );
    }

    #[test]
    fn open_quotes_at_the_end_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        for (text, open) in [
            ("a,\"b\nc\"\n", false),
            ("a,\"b\"\"\nc\"\"\"\n", false),
            ("a,\"b\"\"\nc\n", true),
            ("a,\"b\nc\n", true),
            ("a,b\"c\nd\n", false),
            ("\"a\",\"\"\n", false),
            ("\"a\",\"\n", true),
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(ends_in_open_quote(&path, 0), open, "{text:?}");
        }
    }

    #[test]
    fn record_lines_count_skipped_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let text = "\u{feff}h1,h2\r\n\r\nx,\"multi\r\nline\"\r\n\r\n\r\ny,z\r\n";
        std::fs::write(&path, text).unwrap();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(&path)
            .unwrap();
        let lines: Vec<u64> = rdr
            .records()
            .map(|r| record_line(&path, r.unwrap().position().unwrap()))
            .collect();
        // As `grep -n` counts: the header, `x` after a blank line, `y` after two.
        assert_eq!(lines, [1, 3, 7]);
    }
}
