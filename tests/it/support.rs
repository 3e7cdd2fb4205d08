//! Shared helpers: fixtures, temp workspaces, running the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A temp folder holding the valid import fixture with the files of `bad/<name>` laid over it.
pub fn overlay(bad: &str) -> tempfile::TempDir {
    overlay_fixture(&format!("import/bad/{bad}"))
}

/// A temp folder holding the valid import fixture with the files of fixture `rel` laid over it.
pub fn overlay_fixture(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for src in [fixture("import/valid"), fixture(rel)] {
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// Run the real `cge` binary against `workspace`.
pub fn cge(workspace: &Path, args: &[&str]) -> Output {
    cge_env(workspace, args, &[])
}

pub fn cge_env(workspace: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cge"));
    cmd.arg("--workspace")
        .arg(workspace)
        .args(args)
        .env_remove("CGE_WORKSPACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cge")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub const RAW_TABLES: [&str; 5] = [
    "accounts",
    "subscriptions",
    "feature_usage",
    "support_tickets",
    "churn_events",
];

pub fn counts(ws: &Path) -> Vec<i64> {
    let conn = Connection::open(ws).unwrap();
    RAW_TABLES
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        })
        .collect()
}

/// Every row of the raw tables as text, in rowid order: equal dumps mean equal data.
pub fn dump(ws: &Path) -> String {
    dump_tables(ws, &RAW_TABLES, "rowid")
}

/// Every row of `tables` as text, ordered by `order`.
pub fn dump_tables(ws: &Path, tables: &[&str], order: &str) -> String {
    let conn = Connection::open(ws).unwrap();
    let mut out = String::new();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {t} ORDER BY {order}"))
            .unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            out.push_str(t);
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i).unwrap();
                out.push_str(&format!("|{v:?}"));
            }
            out.push('\n');
        }
    }
    out
}

/// The 1-based physical line of `file` holding `needle` (as `grep -n` counts: lines end
/// at `\n`), which must occur on exactly one line. Tests take expected positions from
/// the fixture itself, never from the importer's output.
pub fn line_containing(file: &Path, needle: &str) -> u64 {
    let bytes = std::fs::read(file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let hits: Vec<usize> = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{needle:?} should be on exactly one line of {}: {hits:?}",
        file.display()
    );
    hits[0] as u64
}

/// A value of the workspace's meta table.
pub fn meta(ws: &Path, key: &str) -> Option<String> {
    use rusqlite::OptionalExtension;
    Connection::open(ws)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .unwrap()
}

/// [`dump`] plus the meta table: what a rejected import must leave exactly as it was.
pub fn dump_all(ws: &Path) -> String {
    dump(ws) + &dump_tables(ws, &["meta"], "key")
}

/// Forget every row dated after `day` (`YYYY-MM-DD`): later activity, tickets, churn,
/// snapshots and starts go; later closures and ends are reopened. What a workspace would
/// have held on that day, for leakage tests.
pub fn forget_after(conn: &Connection, day: &str) {
    let next: String = conn
        .query_row("SELECT date(?1, '+1 day')", [day], |r| r.get(0))
        .unwrap();
    conn.execute_batch(&format!(
        "DELETE FROM feature_usage WHERE usage_date > '{day}';
         DELETE FROM support_tickets WHERE submitted_at > '{day}';
         UPDATE support_tickets SET closed_at = NULL, resolution_time_hours = NULL, satisfaction_score = NULL
             WHERE closed_at >= '{next}';
         DELETE FROM churn_events WHERE churn_date > '{day}';
         DELETE FROM account_signals WHERE snapshot_date > '{day}';
         DELETE FROM sim_truth WHERE month_end > '{day}';
         DELETE FROM feature_usage WHERE subscription_id IN (SELECT subscription_id FROM subscriptions WHERE start_date > '{day}');
         DELETE FROM subscriptions WHERE start_date > '{day}';
         UPDATE subscriptions SET end_date = NULL, churn_flag = 0 WHERE end_date > '{day}';"
    ))
    .unwrap();
}
