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

/// The physical line of `bad/<name>/<file>` holding `needle`, read from the fixture.
fn line(name: &str, file: &str, needle: &str) -> u64 {
    line_containing(&fixture(&format!("import/bad/{name}/{file}")), needle)
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
    assert!(
        text.contains(&format!(
            "schema version  {}",
            cge::workspace::SCHEMA_VERSION
        )),
        "{text}"
    );
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
    // columns, an unknown extra column, an empty owner column, and categorical values
    // in other casings or padded (`Annual`, ` ANNUAL `, `HIGH`, `pro`, `us`, `Support`)
    // that must be stored in the contract's spelling.
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
    assert_eq!(
        err.lines().filter(|l| l.starts_with("warning: ")).count(),
        5,
        "casing variants are not unknown values: {err}"
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
    let before = dump_all(&ws);
    let dir = overlay(name);
    let out = cge(&ws, &["import", "--replace", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{name}: import should fail");
    assert!(err.contains("the workspace was not changed"), "{err}");
    for e in expected {
        assert!(err.contains(e), "{name}: missing {e:?} in\n{err}");
    }
    assert_eq!(dump_all(&ws), before, "{name}: the workspace changed");
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
        &[&format!(
            "accounts.csv line {}: missing required column \"signup_date\"",
            line("missing_column", "accounts.csv", "account_id,account_name")
        )],
    );
}

#[test]
fn bad_date_names_file_line_and_column() {
    rejected(
        "bad_date",
        &[&format!(
            "subscriptions.csv line {}, column 3 (start_date): expected a date YYYY-MM-DD, found \"2024-02-30\"",
            line("bad_date", "subscriptions.csv", "2024-02-30")
        )],
    );
}

#[test]
fn bad_number_names_file_line_and_column() {
    rejected(
        "bad_number",
        &[&format!(
            "feature_usage.csv line {}, column 5 (usage_count): expected a whole number ≥ 0, found \"many\"",
            line("bad_number", "feature_usage.csv", "many")
        )],
    );
}

#[test]
fn duplicate_ids_are_rejected() {
    rejected(
        "duplicate_account",
        &[&format!(
            "accounts.csv line {}, column 1 (account_id): duplicate account_id \"A-2\": ids must be unique",
            line("duplicate_account", "accounts.csv", "A-2,Umbrella")
        )],
    );
    rejected(
        "duplicate_subscription",
        &[&format!(
            "subscriptions.csv line {}, column 1 (subscription_id): duplicate subscription_id \"S-5\": ids must be unique",
            line(
                "duplicate_subscription",
                "subscriptions.csv",
                "S-5,A-4,2024-05-01"
            )
        )],
    );
}

#[test]
fn dangling_references_are_rejected_in_every_table() {
    let err = rejected(
        "dangling",
        &[
            &format!(
                "feature_usage.csv line {}, column 2 (subscription_id): subscription_id \"S-404\" is not in subscriptions.csv",
                line("dangling", "feature_usage.csv", "S-404")
            ),
            &format!(
                "support_tickets.csv line {}, column 2 (account_id): account_id \"A-999\" is not in accounts.csv",
                line("dangling", "support_tickets.csv", "A-999")
            ),
            &format!(
                "churn_events.csv line {}, column 2 (account_id): account_id \"A-77\" is not in accounts.csv",
                line("dangling", "churn_events.csv", "A-77")
            ),
        ],
    );
    assert!(err.contains("import rejected: 3 errors"), "{err}");
}

#[test]
fn ragged_row_is_rejected() {
    rejected(
        "ragged",
        &[&format!(
            "churn_events.csv line {}: expected 9 fields like the header, found 8",
            line("ragged", "churn_events.csv", "C-2")
        )],
    );
}

#[test]
fn errors_are_collected_up_to_a_limit() {
    let err = rejected(
        "many_errors",
        &[&format!(
            "feature_usage.csv line {}, column 3 (usage_date): expected a date YYYY-MM-DD, found \"2024-99-00\"",
            line("many_errors", "feature_usage.csv", "2024-99-00")
        )],
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
    assert_eq!(
        e.line,
        Some(line("bad_number", "feature_usage.csv", "many"))
    );
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

#[test]
fn positions_are_physical_lines_in_crlf_files_with_multiline_fields() {
    // CRLF files (the csv crate's own line count is one short on them), a blank line,
    // and a quoted feedback_text spanning three lines before the bad row: every error
    // names the line an editor shows, a multi-line record the line where it starts.
    let bytes = std::fs::read(fixture("import/bad/positions/feature_usage.csv")).unwrap();
    assert!(
        bytes.windows(2).any(|w| w == b"\r\n"),
        "the fixture must be CRLF"
    );
    let err = rejected(
        "positions",
        &[
            &format!(
                "feature_usage.csv line {}, column 3 (usage_date): expected a date YYYY-MM-DD, found \"2024/05/04\"",
                line("positions", "feature_usage.csv", "2024/05/04")
            ),
            &format!(
                "support_tickets.csv line {}, column 2 (account_id): account_id \"A-999\" is not in accounts.csv",
                line("positions", "support_tickets.csv", "A-999")
            ),
            &format!(
                "churn_events.csv line {}, column 5 (refund_amount_usd): expected a number ≥ 0, found \"-5.0\"",
                line("positions", "churn_events.csv", "C-2,")
            ),
            &format!(
                "churn_events.csv line {}, column 8 (is_reactivation): expected a boolean (True/False/true/false/1/0), found \"maybe\"",
                line("positions", "churn_events.csv", "C-3,")
            ),
        ],
    );
    assert!(err.contains("import rejected: 4 errors;"), "{err}");
}

#[test]
fn multiline_feedback_text_is_kept() {
    let dir = overlay("positions");
    for f in ["feature_usage.csv", "support_tickets.csv"] {
        std::fs::copy(fixture("import/valid").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("churn_events.csv"),
        "churn_event_id,account_id,churn_date,reason_code,refund_amount_usd,preceding_upgrade_flag,preceding_downgrade_flag,is_reactivation,feedback_text\n\
         C-1,A-2,2024-09-30,support,120.5,False,True,False,\"too expensive,\nsaid the CFO\"\n\
         C-2,A-4,2024-08-01,pricing,0.0,False,False,False,\"tab\there\"\n",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, dir.path());
    let conn = Connection::open(&ws).unwrap();
    let texts: Vec<String> = conn
        .prepare("SELECT feedback_text FROM churn_events ORDER BY churn_event_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(texts, ["too expensive,\nsaid the CFO", "tab\there"]);
}

#[test]
fn unclosed_quote_points_at_where_the_row_starts() {
    let header = "churn_event_id,account_id,churn_date,reason_code,refund_amount_usd,preceding_upgrade_flag,preceding_downgrade_flag,is_reactivation,feedback_text\n";
    let rest = "C-2,A-4,2024-08-01,pricing,0.0,False,False,False,\n";
    // In the last column the open quote swallows every later row into one free text.
    let swallowed = format!(
        "{header}C-1,A-2,2024-09-30,support,120.5,False,True,False,\"too expensive\n{rest}"
    );
    // Earlier, the row comes out short of fields.
    let short = format!(
        "{header}C-1,A-2,2024-09-30,\"support,120.5,False,True,False,too expensive\n{rest}"
    );
    for (text, message) in [
        (
            swallowed,
            "column 9 (feedback_text): expected a closing quote: this quoted value runs to the end of the file"
                .to_string(),
        ),
        (
            short,
            "expected 9 fields like the header, found 4; the row runs on inside quotes to line 3 (is a closing quote missing?)"
                .to_string(),
        ),
    ] {
        let dir = overlay("ragged");
        let file = dir.path().join("churn_events.csv");
        std::fs::write(&file, &text).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = cge(
            &tmp.path().join("ws.db"),
            &["import", dir.path().to_str().unwrap()],
        );
        assert!(!out.status.success());
        assert_eq!(line_containing(&file, "C-2,"), 3);
        let err = stderr(&out);
        let sep = if message.starts_with("column") { ", " } else { ": " };
        let want = format!(
            "churn_events.csv line {}{sep}{message}\n",
            line_containing(&file, "C-1,")
        );
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
        assert!(err.contains("import rejected: 1 error;"), "{err}");
    }
}

#[test]
fn feature_driving_values_outside_their_set_are_rejected() {
    let err = rejected(
        "value_sets",
        &[
            &format!(
                "accounts.csv line {}, column 9 (is_trial): expected a boolean (True/False/true/false/1/0), found \"yes\"",
                line("value_sets", "accounts.csv", ",yes,")
            ),
            &format!(
                "subscriptions.csv line {}, column 13 (billing_frequency): expected one of monthly, annual, found \"quarterly\"",
                line("value_sets", "subscriptions.csv", "quarterly")
            ),
            &format!(
                "support_tickets.csv line {}, column 6 (priority): expected one of low, medium, high, urgent, found \"critical\"",
                line("value_sets", "support_tickets.csv", "critical")
            ),
        ],
    );
    assert!(err.contains("import rejected: 3 errors;"), "{err}");
}

#[test]
fn descriptive_values_outside_their_set_are_kept_with_one_warning_per_column() {
    let dir = overlay_fixture("import/lenient");
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &["import", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = |f: &str| dir.path().join(f).display().to_string();
    let warnings: Vec<String> = stderr(&out).lines().map(String::from).collect();
    assert_eq!(
        warnings,
        [
            format!(
                "warning: {}, column 3 (industry): 2 values are not in the contract's set (DevTools, FinTech, Cybersecurity, HealthTech, EdTech) and were kept as written: \"Retail\" ×1, \"retail\" ×1",
                path("accounts.csv")
            ),
            format!(
                "warning: {}, column 4 (country): 1 value is not in the contract's set (US, UK, IN, AU, DE, CA, FR) and was kept as written: \"NL\" ×1",
                path("accounts.csv")
            ),
            format!(
                "warning: {}, column 6 (referral_source): 1 value is not in the contract's set (organic, other, ads, event, partner) and was kept as written: \"Webinar\" ×1",
                path("accounts.csv")
            ),
            format!(
                "warning: {}, column 4 (reason_code): 2 values are not in the contract's set (features, support, budget, unknown, competitor, pricing) and were kept as written: \"Merger\" ×1, \"merger\" ×1",
                path("churn_events.csv")
            ),
        ]
    );
    let conn = Connection::open(&ws).unwrap();
    let industries: Vec<String> = conn
        .prepare("SELECT industry FROM accounts ORDER BY account_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(industries, ["Retail", "retail", "EdTech", "HealthTech"]);
}

#[test]
fn negative_amounts_and_scores_out_of_range_are_rejected() {
    let l = |file: &str, needle: &str| line("ranges", file, needle);
    let err = rejected(
        "ranges",
        &[
            &format!(
                "accounts.csv line {}, column 8 (seats): expected a whole number ≥ 0, found \"-120\"",
                l("accounts.csv", "-120")
            ),
            &format!(
                "subscriptions.csv line {}, column 7 (mrr_amount): expected a number ≥ 0, found \"-9000\"",
                l("subscriptions.csv", "-9000")
            ),
            &format!(
                "subscriptions.csv line {}, column 6 (seats): expected a whole number ≥ 0, found \"-3\"",
                l("subscriptions.csv", "Basic,-3,")
            ),
            &format!(
                "feature_usage.csv line {}, column 6 (usage_duration_secs): expected a whole number ≥ 0, found \"-300\"",
                l("feature_usage.csv", "-300")
            ),
            &format!(
                "feature_usage.csv line {}, column 7 (error_count): expected a whole number ≥ 0, found \"-1\"",
                l("feature_usage.csv", ",-1,")
            ),
            &format!(
                "support_tickets.csv line {}, column 8 (satisfaction_score): expected a number from 1 to 5, found \"9\"",
                l("support_tickets.csv", "T-1,")
            ),
            &format!(
                "support_tickets.csv line {}, column 5 (resolution_time_hours): expected a number ≥ 0, found \"-60.0\"",
                l("support_tickets.csv", "-60.0")
            ),
            &format!(
                "support_tickets.csv line {}, column 7 (first_response_time_minutes): expected a whole number ≥ 0, found \"-15\"",
                l("support_tickets.csv", "-15")
            ),
            &format!(
                "support_tickets.csv line {}, column 8 (satisfaction_score): expected a number from 1 to 5, found \"0.5\"",
                l("support_tickets.csv", "0.5")
            ),
            &format!(
                "churn_events.csv line {}, column 5 (refund_amount_usd): expected a number ≥ 0, found \"-120.5\"",
                l("churn_events.csv", "-120.5")
            ),
        ],
    );
    assert!(err.contains("import rejected: 10 errors;"), "{err}");
}

#[test]
fn ends_before_starts_are_rejected_but_same_day_is_fine() {
    let err = rejected(
        "order",
        &[
            &format!(
                "subscriptions.csv line {}, column 4 (end_date): end_date 2023-05-31 is before start_date 2023-06-01",
                line("order", "subscriptions.csv", "2023-05-31")
            ),
            &format!(
                "support_tickets.csv line {}, column 4 (closed_at): closed_at 2024-07-31 23:59:59 is before submitted_at 2024-08-01",
                line("order", "support_tickets.csv", "2024-07-31 23:59:59")
            ),
        ],
    );
    // S-6 ends and T-1 is closed on the day they start: not errors.
    assert!(err.contains("import rejected: 2 errors;"), "{err}");
}

#[test]
fn dates_must_be_iso() {
    let l = |file: &str, needle: &str| line("date_formats", file, needle);
    let date = "expected a date YYYY-MM-DD, found";
    let stamp = "expected a date or timestamp YYYY-MM-DD HH:MM:SS, found";
    let err = rejected(
        "date_formats",
        &[
            &format!(
                "subscriptions.csv line {}, column 3 (start_date): {date} \"2024/01/15\"",
                l("subscriptions.csv", "2024/01/15")
            ),
            &format!(
                "subscriptions.csv line {}, column 3 (start_date): {date} \"01/06/2024\"",
                l("subscriptions.csv", "01/06/2024")
            ),
            &format!(
                "subscriptions.csv line {}, column 3 (start_date): {date} \"2024- 3-10\"",
                l("subscriptions.csv", "2024- 3-10")
            ),
            &format!(
                "subscriptions.csv line {}, column 4 (end_date): {date} \"2024-8-1\"",
                l("subscriptions.csv", "2024-8-1")
            ),
            &format!(
                "feature_usage.csv line {}, column 3 (usage_date): {date} \"20241001\"",
                l("feature_usage.csv", "20241001")
            ),
            &format!(
                "support_tickets.csv line {}, column 4 (closed_at): {stamp} \"2024-10-06 3:00:00\"",
                l("support_tickets.csv", "2024-10-06 3:00:00")
            ),
            &format!(
                "support_tickets.csv line {}, column 4 (closed_at): {stamp} \"2024-08-03T12:00:00+02:00\"",
                l("support_tickets.csv", "+02:00")
            ),
        ],
    );
    assert!(err.contains("import rejected: 7 errors;"), "{err}");
}

#[test]
fn control_characters_in_text_are_rejected() {
    let l = |file: &str, needle: &str| line("control", file, needle);
    let err = rejected(
        "control",
        &[
            &format!(
                "accounts.csv line {}, column 2 (account_name): expected text without control characters, found \"Acme\\0 Inc.\"",
                l("accounts.csv", "A-1,")
            ),
            &format!(
                "accounts.csv line {}, column 2 (account_name): expected text without control characters, found \"Init\\tech\"",
                l("accounts.csv", "A-3,")
            ),
            &format!(
                "accounts.csv line {}, column 2 (account_name): expected text without control characters, found \"Umbr\\u{{85}}ella\"",
                l("accounts.csv", "A-4,")
            ),
            &format!(
                "churn_events.csv line {}, column 9 (feedback_text): expected text without control characters other than tab and line breaks, found \"too\\u{{7}}expensive\"",
                l("churn_events.csv", "C-1,")
            ),
        ],
    );
    // C-2's feedback spans two lines and holds a tab: free text keeps both.
    assert!(err.contains("import rejected: 4 errors;"), "{err}");
}

#[test]
fn as_of_date_future_rows_and_arr_mismatches_are_reported() {
    let dir = overlay_fixture("import/notes");
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &["import", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "warning: 4 rows dated after the data's as-of date 2024-11-22: accounts 1, subscriptions 2, churn_events 1\n"
    );
    let text = stdout(&out);
    for want in [
        "\n  data as of 2024-11-22 (the latest usage or ticket date)\n",
        "\n  2 subscriptions have ARR ≠ 12 × MRR (kept)\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // A 2099 signup neither moves the as-of date nor is dropped.
    assert_eq!(meta(&ws, "data_as_of").as_deref(), Some("2024-11-22"));
    let w = Workspace::open(&ws).unwrap();
    assert_eq!(
        cge::features::default_as_of(&w).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2024, 11, 22).unwrap()
    );
    assert_eq!(counts(&ws), vec![4, 6, 7, 4, 2]);

    // The same through the library.
    let mut fresh = Workspace::open(&tmp.path().join("lib.db")).unwrap();
    let report = import_dir(&mut fresh, dir.path(), ImportOptions::default()).unwrap();
    assert_eq!(
        report.data_as_of,
        chrono::NaiveDate::from_ymd_opt(2024, 11, 22)
    );
    assert!(report.as_of_from_activity);
    assert_eq!(
        report.future_rows,
        [("accounts", 1), ("subscriptions", 2), ("churn_events", 1)]
    );
    assert_eq!(report.arr_mismatches, 2);
}

#[test]
fn valid_data_has_no_notes_but_its_as_of_date() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &["import", fixture("import/valid").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(
        stdout(&out).ends_with("  data as of 2024-11-22 (the latest usage or ticket date)\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(meta(&ws, "data_as_of").as_deref(), Some("2024-11-22"));
}

#[test]
fn as_of_falls_back_to_the_latest_date_without_usage_or_tickets() {
    let dir = overlay_fixture("import/valid");
    for f in ["feature_usage.csv", "support_tickets.csv"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        let header = text.lines().next().unwrap();
        std::fs::write(dir.path().join(f), format!("{header}\n")).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &["import", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "  data as of 2024-11-20 (the latest date in the files, which hold no usage or tickets)\n"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(meta(&ws, "data_as_of").as_deref(), Some("2024-11-20"));
}

#[test]
fn replace_records_the_new_as_of_date() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    import_ok(&ws, &fixture("import/valid"));
    let dir = overlay_fixture("import/valid");
    let usage = dir.path().join("feature_usage.csv");
    let text = std::fs::read_to_string(&usage).unwrap();
    std::fs::write(&usage, text.replace("2024-11-22", "2024-12-30")).unwrap();
    let out = cge(&ws, &["import", "--replace", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(meta(&ws, "data_as_of").as_deref(), Some("2024-12-30"));
}

#[test]
fn empty_file_is_a_file_level_error() {
    let dir = overlay("ragged");
    std::fs::write(dir.path().join("churn_events.csv"), "").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = cge(
        &tmp.path().join("ws.db"),
        &["import", dir.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    let want = format!(
        "  {}: the file is empty: expected a header row naming the columns\n",
        dir.path().join("churn_events.csv").display()
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

#[test]
fn invalid_utf8_names_its_column() {
    let dir = overlay("ragged");
    let mut bytes = std::fs::read(fixture("import/valid/churn_events.csv")).unwrap();
    let at = bytes.windows(7).position(|w| w == b"pricing").unwrap();
    bytes[at + 1] = 0xff;
    std::fs::write(dir.path().join("churn_events.csv"), &bytes).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = cge(
        &tmp.path().join("ws.db"),
        &["import", dir.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    let want = format!(
        "churn_events.csv line {}, column 4 (reason_code): expected UTF-8 text, found bytes that are not UTF-8 (save the file as UTF-8)",
        line_containing(&dir.path().join("churn_events.csv"), "C-2,")
    );
    assert!(
        stderr(&out).contains(&want),
        "missing {want:?} in\n{}",
        stderr(&out)
    );
}
