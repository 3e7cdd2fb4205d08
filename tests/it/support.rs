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
    let dir = tempfile::tempdir().unwrap();
    for src in [
        fixture("import/valid"),
        fixture(&format!("import/bad/{bad}")),
    ] {
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
