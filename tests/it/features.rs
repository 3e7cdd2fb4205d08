//! The golden record: hand-computed values, NULL handling, leakage, real and simulated data.

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::support::*;
use cge::features::{self, GoldenRecord, dictionary};
use cge::simulate::{SimConfig, simulate};
use cge::workspace::Workspace;
use cge::workspace::import::{ImportOptions, import_dir};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The golden fixture imported into a fresh workspace, with its account signals.
fn golden_workspace(dir: &Path) -> Workspace {
    let mut ws = Workspace::open(&dir.join("golden.db")).unwrap();
    import_dir(&mut ws, &fixture("golden"), ImportOptions::default()).unwrap();
    ws.conn()
        .execute_batch(&std::fs::read_to_string(fixture("golden/account_signals.sql")).unwrap())
        .unwrap();
    ws
}

/// One cell as text: integers plain, reals to 4 decimals, NULL as "NULL".
fn cell(gr: &GoldenRecord, account: &str, column: &str) -> String {
    let ids = gr
        .frame
        .column("account_id")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    let row = ids
        .iter()
        .position(|v| v == Some(account))
        .unwrap_or_else(|| panic!("{account} not in the record"));
    match gr
        .frame
        .column(column)
        .unwrap_or_else(|_| panic!("no column {column}"))
        .get(row)
        .unwrap()
    {
        AnyValue::Null => "NULL".into(),
        AnyValue::Int64(v) => v.to_string(),
        AnyValue::Float64(v) => format!("{v:.4}"),
        AnyValue::String(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// Expected values, computed by hand from tests/fixtures/golden (as of 2024-10-31).
/// Columns: A-1 (active, busy), A-2 (churned 2024-09-30), A-3 (onboarding, no usage,
/// no tickets), A-5 (onboarding with friction, no signals).
const EXPECTED: &[(&str, [&str; 4])] = &[
    ("account_name", ["Acme", "Globex", "Initech", "Hooli"]),
    ("owner", ["Dana Kim", "Lee Alvarez", "Dana Kim", "Dana Kim"]),
    ("plan_tier", ["Pro", "Enterprise", "Basic", "Pro"]),
    (
        "lifecycle_status",
        ["active", "churned", "active", "active"],
    ),
    (
        "billing_frequency",
        ["annual", "NULL", "monthly", "monthly"],
    ),
    // account
    ("seats", ["25", "0", "3", "10"]),
    ("hris_headcount", ["40", "NULL", "5", "NULL"]),
    ("managed_devices", ["50", "NULL", "4", "NULL"]),
    ("device_gap", ["25", "NULL", "1", "NULL"]),
    ("growth_rate_mom", ["0.0300", "NULL", "-0.0100", "NULL"]),
    ("spend_active_users", ["22", "NULL", "3", "NULL"]),
    ("days_since_signup", ["290", "518", "41", "30"]),
    (
        "onboarding_phase",
        ["adoption", "mature", "onboarding", "onboarding"],
    ),
    // subscription
    ("active_product_count", ["2", "0", "1", "1"]),
    ("total_mrr", ["1250.0000", "0.0000", "0.0000", "490.0000"]),
    ("total_arr", ["15000.0000", "0.0000", "0.0000", "5880.0000"]),
    ("upgrade_count_12m", ["1", "0", "0", "0"]),
    ("downgrade_count_12m", ["1", "0", "0", "0"]),
    ("expansion_state", ["stable", "stable", "stable", "stable"]),
    (
        "mrr_change_90d",
        ["0.0000", "-9000.0000", "0.0000", "490.0000"],
    ),
    ("days_to_next_renewal", ["75", "NULL", "19", "30"]),
    ("auto_renew", ["0", "NULL", "1", "1"]),
    ("seat_utilization", ["0.8800", "NULL", "1.0000", "NULL"]),
    // usage
    (
        "avg_daily_usage_count",
        ["0.8333", "0.0000", "0.0000", "0.3333"],
    ),
    (
        "usage_velocity_7day",
        ["1.3333", "0.0000", "0.0000", "10.0000"],
    ),
    (
        "usage_velocity_30day",
        ["1.5000", "0.0000", "0.0000", "10.0000"],
    ),
    ("active_days_30d", ["4", "0", "0", "1"]),
    ("feature_breadth", ["3", "0", "0", "1"]),
    (
        "usage_minutes_30d",
        ["20.0000", "0.0000", "0.0000", "10.0000"],
    ),
    ("error_rate", ["0.1200", "NULL", "NULL", "0.3000"]),
    ("days_since_last_activity", ["0", "180", "NULL", "1"]),
    ("engagement_level", ["medium", "none", "none", "low"]),
    // support
    ("total_tickets_90d", ["3", "0", "0", "2"]),
    ("high_priority_tickets", ["2", "0", "0", "0"]),
    ("escalations_90d", ["1", "0", "0", "0"]),
    ("open_tickets", ["2", "0", "0", "0"]),
    (
        "oldest_open_ticket_hours",
        ["72.0000", "NULL", "NULL", "NULL"],
    ),
    ("avg_satisfaction", ["4.0000", "NULL", "NULL", "4.0000"]),
    (
        "avg_first_response_minutes",
        ["39.6667", "NULL", "NULL", "50.0000"],
    ),
    ("escalation_rate", ["0.3333", "NULL", "NULL", "0.0000"]),
    (
        "escalation_intensity_score",
        ["61.0000", "0.0000", "0.0000", "4.0000"],
    ),
    (
        "escalation_health_status",
        ["critical", "healthy", "healthy", "healthy"],
    ),
    // onboarding
    ("onboarding_friction_flag", ["0", "0", "0", "1"]),
    ("quick_win_flag", ["0", "0", "0", "0"]),
    // cross-sell
    (
        "crosssell_readiness_score",
        ["78.0000", "10.0000", "55.0000", "10.0000"],
    ),
    (
        "crosssell_readiness_status",
        ["ready", "not_ready", "warming", "not_ready"],
    ),
    // risk
    (
        "compound_churn_risk_score",
        ["30.0000", "50.0000", "45.0000", "25.0000"],
    ),
];

#[test]
fn every_feature_matches_hand_computed_values() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = golden_workspace(tmp.path());
    let gr = features::build(&mut ws, date("2024-10-31")).unwrap();
    // A-4 signs up after the as-of date: not in the record.
    let ids: Vec<String> = gr
        .frame
        .column("account_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert_eq!(ids, ["A-1", "A-2", "A-3", "A-5"]);
    // Every dictionary feature is checked here.
    for f in dictionary::FEATURES {
        assert!(
            EXPECTED.iter().any(|(n, _)| n == &f.name),
            "no expected value for {}",
            f.name
        );
    }
    let mut wrong = Vec::new();
    for (column, want) in EXPECTED {
        for (account, want) in ["A-1", "A-2", "A-3", "A-5"].iter().zip(want) {
            let got = cell(&gr, account, column);
            if &got != want {
                wrong.push(format!("{account}.{column}: got {got}, expected {want}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong values:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn stored_record_reloads_identically_and_matches_the_dictionary() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = golden_workspace(tmp.path());
    let built = features::build(&mut ws, date("2024-10-31")).unwrap();
    // The record holds exactly the dictionary's columns, in order.
    let names: Vec<&str> = built
        .frame
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(names, features::table_columns()[1..]);
    let loaded = features::load(&ws, date("2024-10-31")).unwrap().unwrap();
    assert!(built.frame.equals_missing(&loaded.frame));
    assert!(features::load(&ws, date("2024-09-29")).unwrap().is_none());
    // A second as-of date is kept beside the first.
    features::build(&mut ws, date("2024-09-29")).unwrap();
    let n: i64 = ws
        .conn()
        .query_row("SELECT count(DISTINCT as_of) FROM golden_record", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 2);
    // The day before its subscription ends, A-2 is still active; A-5 has not signed up yet.
    let early = features::load(&ws, date("2024-09-29")).unwrap().unwrap();
    assert_eq!(cell(&early, "A-2", "lifecycle_status"), "active");
    assert_eq!(cell(&early, "A-2", "total_mrr"), "9000.0000");
    assert_eq!(early.len(), 3);
}

/// Rows dated after the as-of date, in every table the record reads.
const FUTURE_ROWS: &str = "
    INSERT INTO subscriptions VALUES ('S-90', 'A-3', '2024-11-01', NULL, 'Enterprise', 500, 9999, 119988, 0, 1, 0, 0, 'annual', 1);
    INSERT INTO feature_usage VALUES ('U-90', 'S-1', '2024-11-01', 'feature_9', 26, 9999, 9, 0);
    INSERT INTO feature_usage VALUES ('U-91', 'S-5', '2024-12-24', 'feature_9', 26, 9999, 9, 0);
    INSERT INTO support_tickets VALUES ('T-90', 'A-3', '2024-11-01', NULL, NULL, 'urgent', 1, NULL, 1);
    INSERT INTO support_tickets VALUES ('T-91', 'A-5', '2024-11-01', '2024-11-02 00:00:00', 24, 'high', 1, 1.0, 1);
    INSERT INTO churn_events VALUES ('C-90', 'A-1', '2024-11-01', 'pricing', 0, 0, 0, 0, NULL);
    INSERT INTO account_signals VALUES ('A-5', '2024-11-30', 10, 900, 0.5, 10);
    UPDATE subscriptions SET end_date = '2024-11-01', churn_flag = 1 WHERE subscription_id = 'S-2';
    UPDATE support_tickets SET closed_at = '2024-11-01 00:00:00', satisfaction_score = 1.0 WHERE ticket_id = 'T-2';
";

#[test]
fn rows_after_the_as_of_date_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = golden_workspace(tmp.path());
    let before = features::build(&mut ws, date("2024-10-31")).unwrap();
    ws.conn().execute_batch(FUTURE_ROWS).unwrap();
    let after = features::build(&mut ws, date("2024-10-31")).unwrap();
    assert!(
        before.frame.equals_missing(&after.frame),
        "future rows leaked:\n{:?}\n{:?}",
        before.frame,
        after.frame
    );
    // ...while the same rows do count once the as-of date reaches them.
    let later = features::build(&mut ws, date("2024-11-01")).unwrap();
    assert_eq!(cell(&later, "A-3", "open_tickets"), "1");
}

#[test]
fn simulated_world_truncated_at_the_as_of_date_gives_the_same_record() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sim.db");
    let mut ws = Workspace::open(&path).unwrap();
    simulate(&mut ws, &SimConfig::new(300, 11, date("2026-10-31")), false).unwrap();
    let as_of = date("2026-05-31");
    let full = features::build(&mut ws, as_of).unwrap();
    // Forget everything that happened after the as-of date.
    forget_after(ws.conn(), "2026-05-31");
    let truncated = features::build(&mut ws, as_of).unwrap();
    assert!(
        full.frame.equals_missing(&truncated.frame),
        "the record used data from after the as-of date"
    );
    assert!(full.len() > 100);
}

#[test]
fn works_on_a_simulated_workspace_via_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("sim.db");
    assert!(
        cge(
            &ws,
            &["simulate", "--accounts", "200", "--as-of", "2026-10-31"]
        )
        .status
        .success()
    );
    let out = cge(&ws, &["features"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("golden record as of 2026-10-31: 200 accounts ("),
        "{text}"
    );
    assert!(text.contains("compound_churn_risk_score"), "{text}");
    // Signals exist in simulated data, so they are filled for (almost) every account.
    let line = text
        .lines()
        .find(|l| l.starts_with("hris_headcount"))
        .unwrap();
    let filled: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(filled >= 180, "{line}");
    let out = cge(&ws, &["features", "--as-of", "2026-01-31"]);
    assert!(
        stdout(&out).starts_with("golden record as of 2026-01-31:"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn imported_data_without_signals_gets_nulls_not_inventions() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("plain.db");
    assert!(
        cge(&ws, &["import", fixture("import/valid").to_str().unwrap()])
            .status
            .success()
    );
    let out = cge(&ws, &["features", "--as-of", "2024-10-31"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for f in [
        "hris_headcount",
        "managed_devices",
        "device_gap",
        "growth_rate_mom",
        "spend_active_users",
        "seat_utilization",
    ] {
        let line = text.lines().find(|l| l.starts_with(f)).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
}

#[test]
fn readme_feature_dictionary_is_generated_from_the_code() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- features:start -->")
        .expect("README feature section start marker");
    let end = readme
        .find("<!-- features:end -->")
        .expect("README feature section end marker");
    let section = &readme[start + "<!-- features:start -->".len()..end];
    assert_eq!(
        section.trim(),
        dictionary::markdown().trim(),
        "README's feature dictionary is stale: replace it with `cge features --dictionary`"
    );
}

#[test]
fn polars_usage_windows_agree_with_the_sql_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&tmp.path().join("sim.db")).unwrap();
    simulate(&mut ws, &SimConfig::new(300, 5, date("2026-10-31")), false).unwrap();
    for as_of in ["2026-10-31", "2026-03-15"] {
        let polars = features::usage::windows_rows(ws.conn(), as_of).unwrap();
        let sql = features::usage::baseline_rows(ws.conn(), as_of).unwrap();
        assert!(
            polars.len() > 100,
            "{as_of}: only {} accounts",
            polars.len()
        );
        assert_eq!(polars.len(), sql.len());
        for (p, s) in polars.iter().zip(&sql) {
            assert_eq!(p, s, "{as_of}: polars and SQL disagree");
        }
    }
}

#[test]
fn per_feature_usage_matrices_are_point_in_time() {
    use cge::features::per_feature;
    let tmp = tempfile::tempdir().unwrap();
    let ws = golden_workspace(tmp.path());
    // One scan for two as-of dates, listed out of order.
    let ms =
        per_feature::matrices(ws.conn(), &[date("2024-10-31"), date("2024-09-30")], 90).unwrap();
    let (oct, sep) = (&ms[0], &ms[1]);
    assert_eq!(oct.as_of, date("2024-10-31"));
    assert_eq!(oct.account_ids, ["A-1", "A-2", "A-3", "A-4", "A-5"]);
    // Features seen in the scanned windows, feature_12 after feature_7.
    assert_eq!(
        oct.features,
        [
            "feature_1",
            "feature_2",
            "feature_3",
            "feature_7",
            "feature_12"
        ]
    );
    let get = |m: &per_feature::FeatureUsage, acc: &str| -> (Vec<f64>, Vec<f64>) {
        let r = m.row_of(acc).unwrap();
        (m.counts_row(r).to_vec(), m.errors_row(r).to_vec())
    };
    // Hand-summed from tests/fixtures/golden/feature_usage.csv; (2024-08-02, 2024-10-31]:
    // feature_1 U-6 2; feature_3 U-1 10 + U-3 6 + U-5 8 (U-7 on 11-02 is later);
    // feature_7 U-2 4; feature_12 U-4 5 (2 errors). A-5: feature_2 U-9 10 (3 errors).
    assert_eq!(get(oct, "A-1").0, [2.0, 0.0, 24.0, 4.0, 5.0]);
    assert_eq!(get(oct, "A-1").1, [0.0, 0.0, 1.0, 0.0, 2.0]);
    assert_eq!(get(oct, "A-5").0, [0.0, 10.0, 0.0, 0.0, 0.0]);
    assert_eq!(get(oct, "A-5").1, [0.0, 3.0, 0.0, 0.0, 0.0]);
    // A-2's only usage (2024-05-04) is outside both windows.
    assert_eq!(get(oct, "A-2").0, [0.0; 5]);
    // (2024-07-02, 2024-09-30]: A-1 feature_1 U-6 2, feature_3 U-5 8.
    assert_eq!(get(sep, "A-1").0, [2.0, 0.0, 8.0, 0.0, 0.0]);
    assert_eq!(get(sep, "A-5").0, [0.0; 5]);
    // A 30-day window as of 2024-10-31 drops the September rows.
    let short = per_feature::matrix(ws.conn(), date("2024-10-31"), 30).unwrap();
    let r = short.row_of("A-1").unwrap();
    let f3 = short
        .features
        .iter()
        .position(|f| f == "feature_3")
        .unwrap();
    assert_eq!(short.counts_row(r)[f3], 16.0);
    assert!(!short.features.iter().any(|f| f == "feature_1"));
}

/// A batch (one usage read for every date, dates on parallel connections) gives each date
/// exactly the record and usage matrix computed for that date alone.
#[test]
fn a_batch_of_dates_matches_each_date_computed_alone() {
    use cge::features::{batch, per_feature};
    use cge::job::Reporter;
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&tmp.path().join("w.db")).unwrap();
    simulate(&mut ws, &SimConfig::new(400, 21, date("2026-10-31")), false).unwrap();
    // Out of order, with a month-end far back: windows at both ends of the read.
    let dates = [
        date("2026-10-31"),
        date("2025-12-31"),
        date("2026-06-30"),
        date("2026-05-31"),
    ];
    let mut finished = Vec::new();
    let batch = batch::compute_batch(
        &mut ws,
        &dates,
        90,
        &Reporter::silent(),
        |r, u| Ok((r, u)),
        |n, d| finished.push((n, d)),
    )
    .unwrap();
    // Each date reported once as it finished, counted 1..=4.
    assert_eq!(
        finished.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let mut reported: Vec<NaiveDate> = finished.iter().map(|(_, d)| *d).collect();
    reported.sort();
    let mut want = dates.to_vec();
    want.sort();
    assert_eq!(reported, want);
    assert_eq!(batch.len(), dates.len());
    for ((record, usage), &d) in batch.iter().zip(&dates) {
        let alone = features::compute(&mut ws, d, &Reporter::silent()).unwrap();
        assert_eq!(record.as_of, d);
        assert!(
            record.frame.height() > 100,
            "{d}: {}",
            record.frame.height()
        );
        assert!(
            record.frame.equals_missing(&alone.frame),
            "{d}: the batch's record differs from the record computed alone"
        );
        let matrix = per_feature::matrix(ws.conn(), d, 90).unwrap();
        assert_eq!(usage.account_ids, matrix.account_ids, "{d}");
        // The batch's columns are every feature of the whole read; the same sums where both
        // have a column, zero elsewhere.
        for (c, f) in usage.features.iter().enumerate() {
            let other = matrix.features.iter().position(|g| g == f);
            for r in 0..usage.account_ids.len() {
                let want = other.map_or(0.0, |o| matrix.counts_row(r)[o]);
                assert_eq!(usage.counts_row(r)[c], want, "{d} {f} row {r}");
                let want = other.map_or(0.0, |o| matrix.errors_row(r)[o]);
                assert_eq!(usage.errors_row(r)[c], want, "{d} {f} row {r}");
            }
        }
        assert!(usage.counts.iter().sum::<f64>() > 0.0, "{d}: no usage");
    }
}

#[test]
fn the_rules_that_fire_add_up_to_the_stored_rule_scores() {
    use cge::features::compose::{CHURN_RULES, CROSSSELL_RULES, Rule, fired};
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&tmp.path().join("rules.db")).unwrap();
    simulate(&mut ws, &SimConfig::new(400, 5, date("2026-10-31")), false).unwrap();
    features::build(&mut ws, date("2026-10-31")).unwrap();
    // The record as stored (what the detail pane lists the rules of), not the built frame.
    let gr = features::load(&ws, date("2026-10-31")).unwrap().unwrap();
    let check = |rules: &[Rule], score: &str| {
        let stored: Vec<f64> = gr
            .frame
            .column(score)
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let rows = fired(&gr.frame, rules).unwrap();
        let mut distinct = std::collections::BTreeSet::new();
        for (row, want) in rows.iter().zip(&stored) {
            let sum: f64 = (0..rules.len())
                .filter(|&i| row[i])
                .map(|i| rules[i].points)
                .sum();
            assert_eq!(sum.min(100.0), *want, "{score}: {row:?}");
            distinct.insert(*want as i64);
        }
        assert!(
            distinct.len() > 5,
            "{score} takes many values: {distinct:?}"
        );
        // Every rule fires for some account and not for all.
        for (i, r) in rules.iter().enumerate() {
            let n = rows.iter().filter(|row| row[i]).count();
            assert!(n > 0 && n < rows.len(), "{:?} fired {n} times", r.words);
        }
    };
    check(CHURN_RULES, "compound_churn_risk_score");
    check(CROSSSELL_RULES, "crosssell_readiness_score");
}
