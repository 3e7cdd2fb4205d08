//! Crash safety: a real `cge import --replace` or `cge simulate --replace` killed with
//! SIGKILL at several points of its run leaves an intact workspace that still holds
//! the previous rows (the replace is one transaction; WAL recovery drops the rest).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use rusqlite::Connection;

use crate::support::*;

/// Usage rows of the generated data set: big enough that an import runs for a while.
const USAGE_ROWS: usize = 200_000;
/// Where in a full run's duration the kills land.
const KILL_AT: [f64; 4] = [0.1, 0.35, 0.6, 0.9];

fn write_csv(dir: &Path, name: &str, header: &str, rows: impl Iterator<Item = String>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
    writeln!(f, "{header}").unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
}

fn day(i: usize) -> String {
    format!("2024-{:02}-{:02}", i % 12 + 1, i % 28 + 1)
}

/// A valid data set of 500 accounts and [`USAGE_ROWS`] usage rows.
fn big_data_set(dir: &Path) {
    const ACCOUNTS: usize = 500;
    const SUBS: usize = 2_000;
    write_csv(
        dir,
        "accounts.csv",
        "account_id,account_name,industry,country,signup_date,referral_source,plan_tier,seats,is_trial,churn_flag",
        (0..ACCOUNTS).map(|i| {
            format!(
                "A-{i},Company {i},FinTech,US,2023-01-01,organic,Pro,{},False,False",
                i % 90 + 1
            )
        }),
    );
    write_csv(
        dir,
        "subscriptions.csv",
        "subscription_id,account_id,start_date,end_date,plan_tier,seats,mrr_amount,arr_amount,is_trial,upgrade_flag,downgrade_flag,churn_flag,billing_frequency,auto_renew_flag",
        (0..SUBS).map(|i| {
            format!(
                "S-{i},A-{},2023-06-01,,Pro,10,{},{},False,False,False,False,monthly,True",
                i % ACCOUNTS,
                i % 900,
                12 * (i % 900)
            )
        }),
    );
    write_csv(
        dir,
        "feature_usage.csv",
        "usage_id,subscription_id,usage_date,feature_name,usage_count,usage_duration_secs,error_count,is_beta_feature",
        (0..USAGE_ROWS).map(|i| {
            format!(
                "U-{i},S-{},{},feature_{},{},{},{},False",
                i % SUBS,
                day(i),
                i % 40 + 1,
                i % 27,
                i % 12_000,
                i % 3
            )
        }),
    );
    write_csv(
        dir,
        "support_tickets.csv",
        "ticket_id,account_id,submitted_at,closed_at,resolution_time_hours,priority,first_response_time_minutes,satisfaction_score,escalation_flag",
        (0..2_000).map(|i| {
            format!(
                "T-{i},A-{},{},{} 03:00:00,3.0,high,74,4.0,False",
                i % ACCOUNTS,
                day(i),
                day(i)
            )
        }),
    );
    write_csv(
        dir,
        "churn_events.csv",
        "churn_event_id,account_id,churn_date,reason_code,refund_amount_usd,preceding_upgrade_flag,preceding_downgrade_flag,is_reactivation,feedback_text",
        (0..100).map(|i| {
            format!(
                "C-{i},A-{i},{},pricing,0.0,False,False,False,too expensive",
                day(i)
            )
        }),
    );
}

/// Rows of every table the replaces touch, plus meta.
fn state(ws: &Path) -> String {
    dump_all(ws) + &dump_tables(ws, &["account_signals", "sim_truth"], "1, 2")
}

fn integrity(ws: &Path) -> String {
    Connection::open(ws)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn spawn(ws: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cge"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env_remove("CGE_WORKSPACE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run cge")
}

/// Run `args` over a workspace holding the valid fixture, once to completion (to time
/// it), then killed at fractions of that time. Each kill must leave the workspace
/// intact with the fixture's rows; returns how many kills landed mid-run.
fn kill_at_several_points(args: &[&str]) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &["import", fixture("import/valid").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = state(&ws);

    let timed = tmp.path().join("timed.db");
    std::fs::copy(&ws, &timed).unwrap();
    let started = Instant::now();
    let status = spawn(&timed, args).wait().unwrap();
    let full = started.elapsed();
    assert!(status.success(), "cge {args:?} failed when not killed");
    let after = state(&timed);

    let mut mid_run = 0;
    eprintln!("cge {args:?}: {full:.2?} when left alone");
    for fraction in KILL_AT {
        let mut child = spawn(&ws, args);
        std::thread::sleep(full.mul_f64(fraction));
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert_eq!(integrity(&ws), "ok", "{args:?} killed at {fraction}");
        let now = state(&ws);
        if running && now == before {
            mid_run += 1;
            assert!(status.code().is_none(), "killed by a signal");
        } else {
            // It committed first (and may still have been exiting when killed): the whole
            // replace is there. Anything else would be a partial write.
            assert!(
                now == after,
                "{args:?} killed at {fraction}: rows are neither the old nor the new data"
            );
            assert!(running || status.success());
            // Put the fixture back for the next kill.
            let out = cge(
                &ws,
                &[
                    "import",
                    "--replace",
                    fixture("import/valid").to_str().unwrap(),
                ],
            );
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(state(&ws), before);
        }
    }
    mid_run
}

#[test]
fn killed_import_replace_leaves_the_previous_rows() {
    let data = tempfile::tempdir().unwrap();
    big_data_set(data.path());
    let mid_run = kill_at_several_points(&["import", "--replace", data.path().to_str().unwrap()]);
    assert!(
        mid_run >= 3,
        "only {mid_run} kills landed before the import ended"
    );
}

#[test]
fn killed_simulate_replace_leaves_the_previous_rows() {
    let mid_run = kill_at_several_points(&[
        "simulate",
        "--replace",
        "--accounts",
        "1000",
        "--as-of",
        "2024-12-31",
    ]);
    assert!(
        mid_run >= 3,
        "only {mid_run} kills landed before the simulation ended"
    );
}
