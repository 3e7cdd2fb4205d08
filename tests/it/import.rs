//! `cge import` and `cge info` on the project's own fixtures.

use std::time::Duration;

use rusqlite::Connection;

use crate::support::*;
use cge::workspace::Workspace;
use cge::workspace::import::{ImportErrors, ImportOptions, import_dir};

fn import_ok(ws: &std::path::Path, dir: &std::path::Path) {
    let out = cge(ws, &["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

#[test]
fn valid_fixture_imports_and_info_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, &fixture("import/valid"));
    assert_eq!(counts(&ws), vec![4, 6, 7, 4, 2]);

    let out = cge(&ws, &["info"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("schema version  2"), "{text}");
    for line in [
        "accounts                    4  2023-06-01 .. 2024-11-20",
        "subscriptions               6  2023-06-01 .. 2024-11-20",
        "feature_usage               7  2024-05-04 .. 2024-11-22",
        "support_tickets             4  2024-08-01 .. 2024-10-06",
        "churn_events                2  2024-08-01 .. 2024-09-30",
        "accounts with a churn event    2",
        "accounts flagged churned       1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn stored_types_follow_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, &fixture("import/valid"));
    let conn = Connection::open(&ws).unwrap();
    let (name, trial, seats): (String, i64, i64) = conn
        .query_row(
            "SELECT account_name, is_trial, seats FROM accounts WHERE account_id = 'A-3'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((name.as_str(), trial, seats), ("Initech", 1, 3));
    let quoted: String = conn
        .query_row(
            "SELECT account_name FROM accounts WHERE account_id = 'A-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(quoted, "Acme, Inc.");
    let (mrr_type, end): (String, Option<String>) = conn
        .query_row(
            "SELECT typeof(mrr_amount), end_date FROM subscriptions WHERE subscription_id = 'S-1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((mrr_type.as_str(), end), ("real", None));
    // Usage ids repeat on different subscriptions in real data: both rows are kept.
    let dup: i64 = conn
        .query_row(
            "SELECT count(*) FROM feature_usage WHERE usage_id = 'U-5'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup, 2);
    let open: (Option<String>, Option<f64>) = conn
        .query_row(
            "SELECT closed_at, satisfaction_score FROM support_tickets WHERE ticket_id = 'T-3'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(open, (None, None));
    // The importer drops secondary indexes for the bulk load: they must all be back.
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap();
    let indexes: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for want in [
        "accounts_owner",
        "feature_usage_date",
        "feature_usage_subscription_date",
        "subscriptions_account",
        "support_tickets_account_date",
        "churn_events_account_date",
    ] {
        assert!(
            indexes.iter().any(|i| i == want),
            "index {want} missing after import: {indexes:?}"
        );
    }
}

#[test]
fn tolerated_variants_give_the_same_data() {
    // BOM, CRLF, reversed column order, quoted fields, True/true/1/TRUE booleans,
    // None/NaN/null/empty nulls, timestamps in date columns and dates in timestamp
    // columns, an unknown extra column and an empty owner column.
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain.db");
    let messy = tmp.path().join("messy.db");
    import_ok(&plain, &fixture("import/valid"));
    let out = cge(
        &messy,
        &["import", fixture("import/variants").to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("accounts.csv: ignored unknown column legacy_notes"),
        "{err}"
    );
    assert_eq!(
        err.matches("ignored unknown column legacy_notes").count(),
        5,
        "{err}"
    );
    assert_eq!(dump(&plain), dump(&messy));
}

#[test]
fn owner_column_is_imported_when_present() {
    let dir = overlay("missing_column");
    std::fs::write(
        dir.path().join("accounts.csv"),
        "owner,account_id,account_name,industry,country,signup_date,referral_source,plan_tier,seats,is_trial,churn_flag\n\
         dana,A-1,Acme,DevTools,US,2024-01-15,organic,Pro,20,False,False\n\
         ,A-2,Globex,FinTech,UK,2023-06-01,partner,Enterprise,120,False,True\n\
         lee,A-3,Initech,EdTech,DE,2024-11-20,ads,Basic,3,True,False\n\
         lee,A-4,Umbrella,HealthTech,IN,2024-03-10,event,Basic,8,False,False\n",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, dir.path());
    let conn = Connection::open(&ws).unwrap();
    let owners: Vec<Option<String>> = conn
        .prepare("SELECT owner FROM accounts ORDER BY account_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        owners,
        vec![
            Some("dana".into()),
            None,
            Some("lee".into()),
            Some("lee".into())
        ]
    );
    assert!(cge(&ws, &["info"]).status.success());
    assert!(stdout(&cge(&ws, &["info"])).contains("account owners (CSMs)          2"));
}

/// Import `bad/<name>` over a workspace holding the valid data with `--replace`:
/// it must fail with `expected` messages and leave every row as it was.
fn rejected(name: &str, expected: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, &fixture("import/valid"));
    let before = dump(&ws);
    let dir = overlay(name);
    let out = cge(&ws, &["import", "--replace", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{name}: import should fail");
    assert!(err.contains("the workspace was not changed"), "{err}");
    for e in expected {
        assert!(err.contains(e), "{name}: missing {e:?} in\n{err}");
    }
    assert_eq!(dump(&ws), before, "{name}: the workspace changed");
    assert_eq!(counts(&ws), vec![4, 6, 7, 4, 2]);

    // Into a new path the same files leave no workspace behind.
    let fresh = tmp.path().join("fresh.db");
    let out = cge(&fresh, &["import", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        !fresh.exists(),
        "{name}: a failed import left a new workspace file"
    );
    err
}

#[test]
fn missing_column_is_named() {
    rejected(
        "missing_column",
        &["accounts.csv line 1: missing required column \"signup_date\""],
    );
}

#[test]
fn bad_date_names_file_line_and_column() {
    rejected(
        "bad_date",
        &[
            "subscriptions.csv line 3, column 3 (start_date): expected a date YYYY-MM-DD, found \"2024-02-30\"",
        ],
    );
}

#[test]
fn bad_number_names_file_line_and_column() {
    rejected(
        "bad_number",
        &[
            "feature_usage.csv line 4, column 5 (usage_count): expected a whole number, found \"many\"",
        ],
    );
}

#[test]
fn duplicate_ids_are_rejected() {
    rejected(
        "duplicate_account",
        &[
            "accounts.csv line 5, column 1 (account_id): duplicate account_id \"A-2\": ids must be unique",
        ],
    );
    rejected(
        "duplicate_subscription",
        &[
            "subscriptions.csv line 7, column 1 (subscription_id): duplicate subscription_id \"S-5\"",
        ],
    );
}

#[test]
fn dangling_references_are_rejected_in_every_table() {
    let err = rejected(
        "dangling",
        &[
            "feature_usage.csv line 7, column 2 (subscription_id): subscription_id \"S-404\" is not in subscriptions.csv",
            "support_tickets.csv line 4, column 2 (account_id): account_id \"A-999\" is not in accounts.csv",
            "churn_events.csv line 2, column 2 (account_id): account_id \"A-77\" is not in accounts.csv",
        ],
    );
    assert!(err.contains("import rejected: 3 errors"), "{err}");
}

#[test]
fn ragged_row_is_rejected() {
    rejected(
        "ragged",
        &["churn_events.csv line 3: expected 9 fields like the header, found 8"],
    );
}

#[test]
fn errors_are_collected_up_to_a_limit() {
    let err = rejected(
        "many_errors",
        &["feature_usage.csv line 9, column 3 (usage_date)"],
    );
    assert!(
        err.contains("import rejected: 20 errors (stopped after the first ones)"),
        "{err}"
    );
    assert_eq!(err.matches("feature_usage.csv line").count(), 20, "{err}");
}

#[test]
fn non_empty_workspace_needs_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, &fixture("import/valid"));
    let out = cge(&ws, &["import", fixture("import/valid").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already holds data (4 accounts, 6 subscriptions"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("pass --replace"));

    // --replace swaps in the new data: the variants hold the same rows.
    let out = cge(
        &ws,
        &[
            "import",
            "--replace",
            fixture("import/variants").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("replaced the data of"));
    assert_eq!(counts(&ws), vec![4, 6, 7, 4, 2]);
}

#[test]
fn library_errors_carry_structured_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&tmp.path().join("ws.db")).unwrap();
    let dir = overlay("bad_number");
    let err = import_dir(&mut ws, dir.path(), ImportOptions::default()).unwrap_err();
    let errs = err.downcast_ref::<ImportErrors>().expect("ImportErrors");
    assert_eq!(errs.errors.len(), 1);
    let e = &errs.errors[0];
    assert_eq!(e.file.file_name().unwrap(), "feature_usage.csv");
    assert_eq!(e.line, Some(4));
    assert_eq!(e.column, Some(("usage_count".to_string(), 5)));
    assert!(ws.is_empty().unwrap());
}

#[test]
fn missing_folder_and_missing_file_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &["import", tmp.path().join("nope").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a folder holding the five CSV files"),
        "{}",
        stderr(&out)
    );

    let dir = overlay("bad_date");
    std::fs::remove_file(dir.path().join("churn_events.csv")).unwrap();
    let out = cge(&ws, &["import", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("churn_events.csv: cannot read the file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn corrupt_or_missing_workspace_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database, just some text that fills a page.".repeat(100),
    )
    .unwrap();
    let before = std::fs::read(&junk).unwrap();
    let out = cge(&junk, &["info"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a usable cge workspace"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        before,
        "the file was touched"
    );

    let out = cge(&tmp.path().join("absent.db"), &["info"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no workspace at"), "{}", stderr(&out));
}

#[test]
fn second_process_fails_cleanly_while_the_workspace_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    Workspace::open(&ws).unwrap();
    let mut holder = Connection::open(&ws).unwrap();
    let tx = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let out = cge_env(
        &ws,
        &["import", fixture("import/valid").to_str().unwrap()],
        &[("CGE_BUSY_TIMEOUT_MS", "300")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot write to the workspace"), "{err}");
    assert!(err.contains("another cge process may be using it"), "{err}");
    assert!(err.contains("database is locked"), "{err}");
    tx.rollback().unwrap();
    assert_eq!(counts(&ws), vec![0, 0, 0, 0, 0]);
}

#[test]
fn second_process_waits_for_the_lock_to_be_released() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    Workspace::open(&ws).unwrap();
    let mut holder = Connection::open(&ws).unwrap();
    let tx = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cge"))
        .arg("--workspace")
        .arg(&ws)
        .args(["import", fixture("import/valid").to_str().unwrap()])
        .env("CGE_BUSY_TIMEOUT_MS", "20000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the importer should be waiting on the lock"
    );
    tx.commit().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(counts(&ws), vec![4, 6, 7, 4, 2]);
}
