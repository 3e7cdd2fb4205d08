//! Robustness of `cge import`: seeded random mutations of the small valid data set
//! (bytes flipped, fields cut or replaced, lines duplicated, dropped or swapped,
//! quotes unbalanced, invalid UTF-8, NUL bytes, stray line breaks, truncated files).
//! The importer must never panic, must either import or report errors that each
//! carry file, line and column (or are file- or row-level by nature), and a rejected
//! import must leave the workspace exactly as it was.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::*;
use cge::workspace::Workspace;
use cge::workspace::import::{ImportErrors, ImportOptions, InputError, import_dir};

/// A few hundred cases stay well under 20 s in a debug build.
const CASES: u64 = 300;

const FILES: [&str; 5] = [
    "accounts.csv",
    "subscriptions.csv",
    "feature_usage.csv",
    "support_tickets.csv",
    "churn_events.csv",
];

/// Values that probe the checks: negative, out of range, odd dates, other casings,
/// control characters, ids that do not exist, numbers too big for an integer.
const TOKENS: [&str; 22] = [
    "-1",
    "",
    "NaN",
    "9",
    "0.5",
    "2099-01-01",
    "2024-1-5",
    "2024-02-30",
    "2024-01-05T10:00:00Z",
    "Annual",
    "HIGH",
    "pro",
    "x\ty",
    "1e400",
    "99999999999999999999",
    "\"",
    "\"\"",
    "A-999",
    "S-404",
    "True",
    " ",
    "1999-12-31",
];

fn read_set(rel: &str) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|f| std::fs::read(fixture(rel).join(f)).unwrap())
        .collect()
}

/// Byte ranges of the lines of `data` (each without its `\n`).
fn lines(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    if start < data.len() {
        out.push((start, data.len()));
    }
    out
}

/// Apply one random mutation to `data`; returns what was done, for failure messages.
fn mutate(data: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> String {
    let pos = |rng: &mut ChaCha8Rng, data: &Vec<u8>| rng.random_range(0..=data.len());
    let ls = lines(data);
    let pick_line = |rng: &mut ChaCha8Rng| ls[rng.random_range(0..ls.len())];
    match rng.random_range(0..11) {
        0 if !data.is_empty() => {
            let i = rng.random_range(0..data.len());
            let b: u8 = rng.random();
            data[i] = b;
            format!("byte {i} set to {b:#04x}")
        }
        1 if !ls.is_empty() => {
            // Cut one field (from a comma to the next) out of a line.
            let (s, e) = pick_line(rng);
            let commas: Vec<usize> = (s..e).filter(|&i| data[i] == b',').collect();
            if commas.is_empty() {
                return "no field to cut".into();
            }
            let c = commas[rng.random_range(0..commas.len())];
            let end = (c + 1..e).find(|&i| data[i] == b',').unwrap_or(e);
            data.drain(c..end);
            format!("field cut at byte {c}")
        }
        2 if !ls.is_empty() => {
            let (s, e) = pick_line(rng);
            let mut copy = data[s..e].to_vec();
            copy.push(b'\n');
            let at = (e + 1).min(data.len());
            data.splice(at..at, copy);
            format!("line at byte {s} duplicated")
        }
        3 => {
            let i = pos(rng, data);
            data.insert(i, b'"');
            format!("quote inserted at byte {i}")
        }
        4 => {
            let i = pos(rng, data);
            let bad: &[u8] = if rng.random_bool(0.5) {
                b"\xff"
            } else {
                b"\xc3("
            };
            data.splice(i..i, bad.iter().copied());
            format!("invalid UTF-8 at byte {i}")
        }
        5 => {
            let i = pos(rng, data);
            data.insert(i, 0);
            format!("NUL at byte {i}")
        }
        6 => {
            let i = pos(rng, data);
            data.truncate(i);
            format!("truncated to {i} bytes")
        }
        7 if ls.len() > 1 => {
            let (s, e) = pick_line(rng);
            data.drain(s..(e + 1).min(data.len()));
            format!("line at byte {s} deleted")
        }
        8 if !ls.is_empty() => {
            // Replace one field of a line with a probing token.
            let (s, e) = pick_line(rng);
            let mut bounds = vec![s];
            bounds.extend((s..e).filter(|&i| data[i] == b',').map(|i| i + 1));
            let k = rng.random_range(0..bounds.len());
            let from = bounds[k];
            let to = bounds.get(k + 1).map_or(e, |n| n - 1);
            let token = TOKENS[rng.random_range(0..TOKENS.len())];
            data.splice(from..to.max(from), token.bytes());
            format!("field at byte {from} replaced by {token:?}")
        }
        9 => {
            let i = pos(rng, data);
            let br: &[u8] = if rng.random_bool(0.5) { b"\n" } else { b"\r\n" };
            data.splice(i..i, br.iter().copied());
            format!("line break inserted at byte {i}")
        }
        10 if ls.len() > 2 => {
            let a = rng.random_range(0..ls.len());
            let b = rng.random_range(0..ls.len());
            let (x, y) = (ls[a.min(b)], ls[a.max(b)]);
            if x == y {
                return "same line".into();
            }
            let mut out = data[..x.0].to_vec();
            out.extend_from_slice(&data[y.0..y.1]);
            out.extend_from_slice(&data[x.1..y.0]);
            out.extend_from_slice(&data[x.0..x.1]);
            out.extend_from_slice(&data[y.1..]);
            *data = out;
            format!("lines at bytes {} and {} swapped", x.0, y.0)
        }
        _ => "nothing".into(),
    }
}

/// Every error names one of the five files, and a line and column within it, unless it
/// is about the whole file (unreadable, empty), its header, or a row's shape.
fn check_error(e: &InputError, dir: &Path, case: u64, what: &str) {
    let ctx = || format!("case {case} ({what}): {e}");
    let name = e.file.file_name().unwrap().to_str().unwrap().to_string();
    assert!(FILES.contains(&name.as_str()), "{}", ctx());
    assert_eq!(e.file.parent().unwrap(), dir, "{}", ctx());
    let data = std::fs::read(&e.file).unwrap();
    let physical = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    match (e.line, &e.column) {
        (Some(line), Some((column, pos))) => {
            assert!((1..=physical).contains(&line), "{}", ctx());
            assert!(*pos >= 1 && !column.is_empty(), "{}", ctx());
        }
        (Some(line), None) => {
            assert!((1..=physical).contains(&line), "{}", ctx());
            assert!(
                e.message.starts_with("missing required column")
                    || e.message.starts_with("expected a header row in UTF-8")
                    || (e.message.starts_with("expected ")
                        && e.message.contains(" fields like the header, found ")),
                "a row-level error must be about the header or the row's shape: {}",
                ctx()
            );
        }
        (None, None) => assert!(
            e.message.starts_with("the file is empty") || e.message.starts_with("cannot read the"),
            "a file-level error must be about the whole file: {}",
            ctx()
        ),
        (None, Some(_)) => panic!("a column without a line: {}", ctx()),
    }
}

/// Raw rows, meta and schema (the importer drops and rebuilds indexes).
fn state(ws: &Path) -> String {
    dump_all(ws) + &dump_tables(ws, &["sqlite_master"], "name")
}

#[test]
fn mutated_inputs_never_panic_and_rejections_change_nothing() {
    let bases = [read_set("import/valid"), read_set("import/variants")];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();

    // The --replace half imports over a workspace holding the valid data.
    let held = tmp.path().join("held.db");
    let mut ws = Workspace::open(&held).unwrap();
    import_dir(&mut ws, &fixture("import/valid"), ImportOptions::default()).unwrap();
    let held_state = state(&held);
    let empty = tmp.path().join("empty.db");
    Workspace::open(&empty).unwrap();
    let empty_state = state(&empty);

    let (mut imported, mut rejected) = (0, 0);
    for case in 0..CASES {
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let mut files = bases[rng.random_range(0..bases.len())].clone();
        let mut what = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let f = rng.random_range(0..FILES.len());
            what.push(format!("{}: {}", FILES[f], mutate(&mut files[f], &mut rng)));
        }
        let what = what.join("; ");
        for (name, data) in FILES.iter().zip(&files) {
            std::fs::write(dir.join(name), data).unwrap();
        }
        let replace = case % 2 == 0;
        let fresh = tmp.path().join(format!("fresh-{case}.db"));
        let (path, result) = if replace {
            let r = catch_unwind(AssertUnwindSafe(|| {
                import_dir(&mut ws, &dir, ImportOptions { replace: true })
            }));
            (held.clone(), r)
        } else {
            let mut fresh_ws = Workspace::open(&fresh).unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| {
                import_dir(&mut fresh_ws, &dir, ImportOptions::default())
            }));
            (fresh.clone(), r)
        };
        let result = result.unwrap_or_else(|_| panic!("case {case} panicked ({what})"));
        match result {
            Ok(_) => {
                imported += 1;
                if replace {
                    // Put the held data back for the next case.
                    import_dir(
                        &mut ws,
                        &fixture("import/valid"),
                        ImportOptions { replace: true },
                    )
                    .unwrap();
                    assert_eq!(state(&held), held_state, "case {case}: restore");
                }
            }
            Err(e) => {
                rejected += 1;
                let errs = e
                    .downcast_ref::<ImportErrors>()
                    .unwrap_or_else(|| panic!("case {case} ({what}): not an input error: {e:#}"));
                assert!(!errs.errors.is_empty(), "case {case}: no errors listed");
                for err in &errs.errors {
                    check_error(err, &dir, case, &what);
                }
                let want = if replace { &held_state } else { &empty_state };
                assert_eq!(
                    &state(&path),
                    want,
                    "case {case} ({what}): the workspace changed"
                );
            }
        }
        if !replace {
            std::fs::remove_file(&fresh).ok();
        }
    }
    eprintln!("fuzz: {imported} imported, {rejected} rejected");
    // Most mutations break the data; some leave it valid (a changed value that fits).
    assert!(rejected > CASES / 2, "{rejected} of {CASES} rejected");
    assert!(imported > 0, "no mutation imported");
}
