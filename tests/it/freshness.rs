//! Derived state stays true to the data: snapshots on demand write nothing, the record the
//! TUI opens is the one for the data's as-of date, replacing data clears what came from it,
//! the default as-of date ignores future-dated starts, and failed commands leave no file.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::support::*;
use cge::features;
use cge::job::Reporter;
use cge::simulate::{SimConfig, simulate};
use cge::tui::{Opening, opening};
use cge::workspace::Workspace;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn simulated(dir: &Path, accounts: usize, seed: u64) -> PathBuf {
    let path = dir.join("sim.db");
    let mut ws = Workspace::open(&path).unwrap();
    simulate(
        &mut ws,
        &SimConfig::new(accounts, seed, date("2026-10-31")),
        false,
    )
    .unwrap();
    path
}

fn opened_as_of(ws: &Workspace) -> Option<NaiveDate> {
    match opening(ws).unwrap() {
        Opening::Stored(gr) => Some(gr.as_of),
        _ => None,
    }
}

fn derived_dump(ws: &Path) -> String {
    dump_tables(ws, &["golden_record", "meta"], "1, 2")
}

#[test]
fn snapshots_on_demand_write_nothing_and_never_move_what_the_tui_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let path = simulated(tmp.path(), 120, 5);
    let mut ws = Workspace::open_existing(&path).unwrap();
    let data_as_of = features::default_as_of(&ws).unwrap();
    assert_eq!(data_as_of, date("2026-10-31"));
    // Nothing stored yet: the UI must build it.
    assert!(matches!(opening(&ws).unwrap(), Opening::Build));
    let current = features::build(&mut ws, data_as_of).unwrap();
    assert_eq!(opened_as_of(&ws), Some(data_as_of));

    let before = derived_dump(&path);
    let changes = ws.conn().total_changes();
    let mut snapshots = Vec::new();
    for d in ["2026-03-31", "2026-06-30", "2026-09-30"] {
        let gr = features::compute(&mut ws, date(d), &Reporter::silent()).unwrap();
        assert_eq!(gr.as_of, date(d));
        assert!(gr.len() > 20, "{d}: {} accounts", gr.len());
        snapshots.push(gr);
    }
    assert_eq!(ws.conn().total_changes(), changes, "compute wrote rows");
    assert_eq!(derived_dump(&path), before, "compute changed stored state");

    // A snapshot equals what a build at that date stores (compute is the whole record)...
    let built = features::build(&mut ws, date("2026-06-30")).unwrap();
    assert!(built.frame.equals_missing(&snapshots[1].frame));
    // ...and storing a past date, here or from the command line, leaves the UI on today's.
    let out = cge(&path, &["features", "--as-of", "2026-03-31"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("golden record as of 2026-03-31"));
    match opening(&ws).unwrap() {
        Opening::Stored(gr) => {
            assert_eq!(gr.as_of, data_as_of);
            assert!(gr.frame.equals_missing(&current.frame));
        }
        other => panic!("expected the stored record, got {other:?}"),
    }
}

#[test]
fn a_record_built_with_another_dictionary_is_rebuilt_not_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let path = simulated(tmp.path(), 60, 6);
    let mut ws = Workspace::open_existing(&path).unwrap();
    let as_of = features::default_as_of(&ws).unwrap();
    let first = features::build(&mut ws, as_of).unwrap();
    // An older cge stored one more column: its rows must not be shown as today's record.
    ws.conn()
        .execute_batch("ALTER TABLE golden_record ADD COLUMN retired_feature REAL")
        .unwrap();
    assert!(!features::table_is_current(ws.conn()).unwrap());
    assert!(matches!(opening(&ws).unwrap(), Opening::Build));
    assert!(features::load(&ws, as_of).unwrap().is_none());
    // The build the UI starts recreates the table and the record.
    features::build(&mut ws, as_of).unwrap();
    match opening(&ws).unwrap() {
        Opening::Stored(gr) => assert!(gr.frame.equals_missing(&first.frame)),
        other => panic!("expected the rebuilt record, got {other:?}"),
    }
}

fn count(path: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn replacing_the_data_clears_everything_derived_from_the_old_data() {
    let tmp = tempfile::tempdir().unwrap();
    let path = simulated(tmp.path(), 80, 8);
    {
        let mut ws = Workspace::open_existing(&path).unwrap();
        let as_of = features::default_as_of(&ws).unwrap();
        features::build(&mut ws, as_of).unwrap();
        features::build(&mut ws, date("2026-01-31")).unwrap();
    }
    assert!(count(&path, "golden_record") > 80);
    assert!(count(&path, "sim_truth") > 0);

    let out = cge(
        &path,
        &[
            "import",
            "--replace",
            fixture("import/valid").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for t in ["golden_record", "sim_truth", "account_signals"] {
        assert_eq!(count(&path, t), 0, "{t} kept rows of the replaced world");
    }
    let ws = Workspace::open_existing(&path).unwrap();
    assert!(
        cge::workspace::meta(ws.conn(), "sim.seed")
            .unwrap()
            .is_none()
    );
    assert!(matches!(opening(&ws).unwrap(), Opening::Build));
    drop(ws);

    // The other way round: a simulated world replaces imported data and its record.
    let out = cge(&path, &["features"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(count(&path, "golden_record") > 0);
    let out = cge(
        &path,
        &[
            "simulate",
            "--replace",
            "--accounts",
            "30",
            "--as-of",
            "2025-06-30",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(&path, "golden_record"), 0);
}

/// The latest value of a date column in a fixture CSV (read here, independently of cge).
fn latest(file: &Path, column: &str) -> String {
    let mut rdr = csv::Reader::from_path(file).unwrap();
    let i = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap();
    rdr.records()
        .map(|r| r.unwrap()[i][..10].to_string())
        .max()
        .unwrap()
}

#[test]
fn the_default_as_of_date_is_the_latest_usage_or_ticket_date() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ws.db");
    let dir = fixture("import/valid");
    let out = cge(&path, &["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = latest(&dir.join("feature_usage.csv"), "usage_date")
        .max(latest(&dir.join("support_tickets.csv"), "submitted_at"));

    let ws = Workspace::open_existing(&path).unwrap();
    assert_eq!(features::default_as_of(&ws).unwrap().to_string(), want);
    // Future-dated signups and starts (a contract signed for next year) move nothing,
    // whether the date was recorded at import or is worked out from the data.
    ws.conn()
        .execute_batch(
            "INSERT INTO accounts VALUES ('A-99', 'Future Co', NULL, NULL, '2099-01-01', NULL, 'Pro', 5, 0, 0, NULL);
             INSERT INTO subscriptions VALUES ('S-99', 'A-1', '2099-01-01', NULL, 'Pro', 5, 245, 2940, 0, 0, 0, 0, 'monthly', 1);",
        )
        .unwrap();
    assert_eq!(features::default_as_of(&ws).unwrap().to_string(), want);
    ws.conn().execute("DELETE FROM meta", []).unwrap();
    assert_eq!(features::default_as_of(&ws).unwrap().to_string(), want);
    drop(ws);

    let info = stdout(&cge(&path, &["info"]));
    assert!(
        info.contains(&format!("data as of      {want}\n")),
        "{info}"
    );
}

#[test]
fn as_of_dates_must_be_written_yyyy_mm_dd() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ws.db");
    for (args, bad) in [
        (vec!["features", "--as-of", "24-01-01"], "24-01-01"),
        (vec!["features", "--as-of", "2024-1-05"], "2024-1-05"),
        (
            vec!["simulate", "--accounts", "5", "--as-of", "2024/01/05"],
            "2024/01/05",
        ),
    ] {
        let out = cge(&path, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "expected a date YYYY-MM-DD (e.g. 2024-12-31), got {bad:?}"
            )),
            "{err}"
        );
    }
    assert!(!path.exists());
}

fn leftovers(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", path.display())))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn a_failed_command_leaves_no_new_workspace_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("new.db");
    let out = cge(
        &path,
        &["simulate", "--accounts", "0", "--as-of", "2024-12-31"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--accounts must be at least 1"));
    assert_eq!(leftovers(&path), Vec::<PathBuf>::new());

    let bad = overlay("dangling");
    let out = cge(&path, &["import", bad.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("import rejected"), "{}", stderr(&out));
    assert_eq!(leftovers(&path), Vec::<PathBuf>::new());

    let out = cge(
        &path,
        &["import", tmp.path().join("nowhere").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert_eq!(leftovers(&path), Vec::<PathBuf>::new());

    // An existing workspace is never removed by a failed command.
    let out = cge(
        &path,
        &["import", fixture("import/valid").to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let before = dump(&path);
    let out = cge(
        &path,
        &["import", "--replace", bad.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(path.exists());
    assert_eq!(dump(&path), before);
}

/// Rows of `golden_record` per as-of date.
fn stored_dates(path: &Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut stmt = conn
        .prepare("SELECT as_of, count(*) FROM golden_record GROUP BY as_of ORDER BY as_of")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn killing_a_features_build_at_any_point_leaves_the_stored_record_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let path = simulated(tmp.path(), 1500, 12);
    let out = cge(&path, &["features"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = stored_dates(&path);
    assert_eq!(before.len(), 1);
    let raw = dump(&path);
    // Accounts signed up by 2026-08-31: what a complete record for that date holds.
    let complete = {
        let ws = Workspace::open_existing(&path).unwrap();
        ws.conn()
            .query_row(
                "SELECT count(*) FROM accounts WHERE signup_date <= '2026-08-31'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    let mut finished = 0;
    for delay_ms in [0u64, 30, 80, 150, 300, 600, 1200] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cge"))
            .arg("--workspace")
            .arg(&path)
            .args(["features", "--as-of", "2026-08-31"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no cleanup code runs
        let status = child.wait().unwrap();
        finished += usize::from(status.success());
        let now = stored_dates(&path);
        let (past, today): (Vec<_>, Vec<_>) = now.into_iter().partition(|(d, _)| d == "2026-08-31");
        assert_eq!(
            today, before,
            "killed after {delay_ms} ms: today's record changed"
        );
        if let Some((_, n)) = past.first() {
            assert_eq!(*n, complete, "killed after {delay_ms} ms: a partial record");
        }
        assert_eq!(dump(&path), raw, "the raw data changed");
        // Start the next round from "no record for that date".
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("DELETE FROM golden_record WHERE as_of = '2026-08-31'", [])
            .unwrap();
    }
    assert!(
        finished < 7,
        "every build finished before the kill: the test proved nothing"
    );
}
