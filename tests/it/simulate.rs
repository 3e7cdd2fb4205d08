//! The simulator: determinism, integrity, value sets, realistic churn, learnable signal.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use rusqlite::Connection;

use crate::support::*;
use cge::models::metrics::{pr_auc, roc_auc};
use cge::simulate::{SimConfig, simulate};
use cge::workspace::Workspace;
use cge::workspace::contract::values;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
}

fn simulated(dir: &Path, name: &str, accounts: usize, seed: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut ws = Workspace::open(&path).unwrap();
    simulate(&mut ws, &SimConfig::new(accounts, seed, as_of()), false).unwrap();
    path
}

/// Every table of the workspace, including the simulator's own.
fn full_dump(ws: &Path) -> String {
    dump(ws) + &dump_tables(ws, &["account_signals", "sim_truth", "meta"], "1, 2")
}

#[test]
fn same_seed_same_tables_other_seed_other_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let a = full_dump(&simulated(tmp.path(), "a.db", 150, 7));
    let b = full_dump(&simulated(tmp.path(), "b.db", 150, 7));
    let c = full_dump(&simulated(tmp.path(), "c.db", 150, 8));
    assert!(a.len() > 100_000, "suspiciously little data");
    assert!(a == b, "same seed gave different tables");
    assert!(a != c, "another seed gave the same tables");
}

struct World {
    conn: Connection,
}

impl World {
    fn strings(&self, sql: &str) -> HashSet<String> {
        let mut stmt = self.conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
    fn one(&self, sql: &str) -> f64 {
        self.conn
            .query_row(sql, [], |r| r.get::<_, f64>(0))
            .unwrap()
    }
}

/// One mid-sized world shared by the checks below (simulated once per test binary).
fn world() -> &'static Path {
    static PATH: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, p) = PATH.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let p = simulated(tmp.path(), "world.db", 1500, 42);
        (tmp, p)
    });
    p
}

fn open_world() -> World {
    World {
        conn: Connection::open(world()).unwrap(),
    }
}

#[test]
fn referential_integrity_holds() {
    let w = open_world();
    let violations: i64 = w
        .conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(violations, 0);
    assert_eq!(w.one("SELECT count(*) FROM accounts"), 1500.0);
    // Every account has a subscription; usage falls inside its subscription's term.
    assert_eq!(w.one("SELECT count(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = a.account_id)"), 0.0);
    assert_eq!(
        w.one("SELECT count(*) FROM feature_usage u JOIN subscriptions s USING (subscription_id) WHERE u.usage_date < s.start_date OR u.usage_date > coalesce(s.end_date, '9999')"),
        0.0
    );
    assert_eq!(
        w.one("SELECT count(*) FROM subscriptions WHERE arr_amount != 12 * mrr_amount"),
        0.0
    );
    assert_eq!(
        w.one("SELECT count(*) FROM subscriptions WHERE (end_date IS NULL) != (churn_flag = 0)"),
        0.0
    );
    assert_eq!(
        w.one("SELECT count(*) FROM subscriptions WHERE (mrr_amount = 0) != (is_trial = 1)"),
        0.0
    );
    assert_eq!(w.one("SELECT count(*) FROM support_tickets WHERE closed_at IS NOT NULL AND substr(closed_at, 1, 10) < submitted_at"), 0.0);
    assert_eq!(
        w.one("SELECT count(*) FROM accounts WHERE signup_date > '2026-10-31'"),
        0.0
    );
    assert_eq!(
        w.one("SELECT count(*) FROM feature_usage WHERE usage_date > '2026-10-31'"),
        0.0
    );
}

#[test]
fn value_sets_match_the_contract() {
    let w = open_world();
    let set = |xs: &[&str]| {
        xs.iter()
            .map(|s| s.to_string())
            .collect::<HashSet<String>>()
    };
    assert_eq!(
        w.strings("SELECT DISTINCT plan_tier FROM accounts"),
        set(&values::PLAN_TIERS)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT plan_tier FROM subscriptions"),
        set(&values::PLAN_TIERS)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT industry FROM accounts"),
        set(&values::INDUSTRIES)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT country FROM accounts"),
        set(&values::COUNTRIES)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT referral_source FROM accounts"),
        set(&values::REFERRAL_SOURCES)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT priority FROM support_tickets"),
        set(&values::PRIORITIES)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT billing_frequency FROM subscriptions"),
        set(&values::BILLING_FREQUENCIES)
    );
    assert_eq!(
        w.strings("SELECT DISTINCT reason_code FROM churn_events"),
        set(&values::REASON_CODES)
    );
    assert_eq!(
        w.strings(
            "SELECT DISTINCT feedback_text FROM churn_events WHERE feedback_text IS NOT NULL"
        ),
        set(&values::FEEDBACK_TEXTS)
    );
    let features: HashSet<String> = (1..=values::FEATURE_COUNT)
        .map(|i| format!("feature_{i}"))
        .collect();
    assert_eq!(
        w.strings("SELECT DISTINCT feature_name FROM feature_usage"),
        features
    );
    assert_eq!(w.one("SELECT count(DISTINCT owner) FROM accounts"), 8.0);
    // Volumes near the original data's: ~10 subscriptions, ~50 usage rows, ~4 tickets per account.
    let per = |t: &str| {
        w.one(&format!(
            "SELECT count(*) * 1.0 / (SELECT count(*) FROM accounts) FROM {t}"
        ))
    };
    assert!(
        (8.0..12.0).contains(&per("subscriptions")),
        "{}",
        per("subscriptions")
    );
    assert!(
        (40.0..60.0).contains(&per("feature_usage")),
        "{}",
        per("feature_usage")
    );
    assert!(
        (3.0..5.0).contains(&per("support_tickets")),
        "{}",
        per("support_tickets")
    );
    // Both kinds of rows exist where the contract has flags.
    for (t, c) in [
        ("subscriptions", "upgrade_flag"),
        ("subscriptions", "downgrade_flag"),
        ("churn_events", "is_reactivation"),
        ("support_tickets", "escalation_flag"),
        ("accounts", "is_trial"),
    ] {
        assert_eq!(
            w.one(&format!("SELECT count(DISTINCT {c}) FROM {t}")),
            2.0,
            "{t}.{c}"
        );
    }
    assert!(
        w.one("SELECT count(*) FROM support_tickets WHERE closed_at IS NULL") > 0.0,
        "some tickets are open at the as-of date"
    );
}

#[test]
fn churn_rate_is_realistic_and_consistent() {
    let w = open_world();
    let churned_ever = w.one("SELECT count(DISTINCT account_id) * 1.0 / (SELECT count(*) FROM accounts) FROM churn_events");
    assert!(
        (0.10..=0.35).contains(&churned_ever),
        "churn over the history: {churned_ever}"
    );

    // churn_flag = 1 exactly when the account has no open subscription, and then its
    // last churn event is the day its subscriptions ended.
    let mut stmt = w.conn.prepare(
        "SELECT a.account_id, a.churn_flag,
                (SELECT count(*) FROM subscriptions s WHERE s.account_id = a.account_id AND s.end_date IS NULL),
                (SELECT max(end_date) FROM subscriptions s WHERE s.account_id = a.account_id),
                (SELECT max(churn_date) FROM churn_events e WHERE e.account_id = a.account_id)
         FROM accounts a",
    ).unwrap();
    type Row = (String, bool, i64, Option<String>, Option<String>);
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, flag, open, last_end, last_churn) in rows {
        assert_eq!(
            flag,
            open == 0,
            "{id}: churn_flag disagrees with open subscriptions"
        );
        if flag {
            assert_eq!(
                last_churn, last_end,
                "{id}: churn date is not the last subscription end"
            );
        }
    }
    // Every churn event ends every subscription active that day.
    assert_eq!(
        w.one("SELECT count(*) FROM churn_events e JOIN subscriptions s ON s.account_id = e.account_id
               WHERE s.start_date <= e.churn_date AND (s.end_date IS NULL OR s.end_date > e.churn_date)"),
        0.0
    );
}

/// Realized outcome in the 90 days after each month-end vs the stored truth.
fn truth_vs_outcome(
    w: &World,
    column: &str,
    outcome: &str,
    month_end: &str,
) -> (Vec<f64>, Vec<bool>) {
    let sql = format!(
        "SELECT t.{column}, EXISTS ({outcome}) FROM sim_truth t WHERE t.month_end = ?1 ORDER BY t.account_id"
    );
    let mut stmt = w.conn.prepare(&sql).unwrap();
    stmt.query_map([month_end], |r| {
        Ok((r.get::<_, f64>(0)?, r.get::<_, bool>(1)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .unzip()
}

#[test]
fn true_hazard_separates_churners_from_stayers() {
    let w = open_world();
    let mut by_month: HashMap<&str, (f64, f64)> = HashMap::new();
    for month in ["2025-12-31", "2026-03-31", "2026-06-30"] {
        let (scores, labels) = truth_vs_outcome(
            &w,
            "churn_hazard_90d",
            "SELECT 1 FROM churn_events e WHERE e.account_id = t.account_id AND e.churn_date > t.month_end AND e.churn_date <= date(t.month_end, '+90 days')",
            month,
        );
        let base = labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64;
        let ap = pr_auc(&scores, &labels).unwrap();
        let auc = roc_auc(&scores, &labels).unwrap();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!(
            ap >= 2.0 * base,
            "{month}: PR-AUC {ap:.3} vs base rate {base:.3}"
        );
        assert!(auc > 0.7, "{month}: ROC-AUC {auc:.3}");
        // The oracle is calibrated: its mean is near the realized rate.
        assert!(
            (mean - base).abs() < 0.03,
            "{month}: mean hazard {mean:.3} vs realized {base:.3}"
        );
        by_month.insert(month, (ap, base));
    }
    let (scores, labels) = truth_vs_outcome(
        &w,
        "escalation_propensity_90d",
        "SELECT 1 FROM support_tickets e WHERE e.account_id = t.account_id AND e.escalation_flag = 1 AND e.submitted_at > t.month_end AND e.submitted_at <= date(t.month_end, '+90 days')",
        "2026-03-31",
    );
    let base = labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64;
    assert!(
        pr_auc(&scores, &labels).unwrap() >= 1.5 * base,
        "escalation propensity carries no signal"
    );
}

#[test]
fn onboarding_friction_and_growth_show_in_the_data() {
    let w = open_world();
    // Accounts churn more in their first 90 days than in the next 90.
    let early = w.one("SELECT count(*) FROM churn_events e JOIN accounts a USING (account_id) WHERE julianday(e.churn_date) - julianday(a.signup_date) < 90 AND e.is_reactivation = 0");
    let later = w.one("SELECT count(*) FROM churn_events e JOIN accounts a USING (account_id) WHERE julianday(e.churn_date) - julianday(a.signup_date) BETWEEN 90 AND 179 AND e.is_reactivation = 0");
    assert!(early > later, "early churn {early} vs later {later}");
    // Expanding accounts are the growing ones.
    let growth_expanders = w.one("SELECT avg(g.growth_rate_mom) FROM account_signals g WHERE g.account_id IN (SELECT account_id FROM subscriptions WHERE upgrade_flag = 1 GROUP BY account_id HAVING count(*) >= 8)");
    let growth_others = w.one("SELECT avg(g.growth_rate_mom) FROM account_signals g WHERE g.account_id IN (SELECT account_id FROM subscriptions GROUP BY account_id HAVING sum(upgrade_flag) <= 2)");
    assert!(
        growth_expanders > growth_others + 0.005,
        "{growth_expanders} vs {growth_others}"
    );
    // Feature adoption is clustered: users of feature_3 use feature_7 more than users of feature_1 do.
    let with3 = w.one("SELECT avg(x) FROM (SELECT s.account_id, max(u.feature_name = 'feature_7') AS x FROM feature_usage u JOIN subscriptions s USING (subscription_id) GROUP BY s.account_id HAVING max(u.feature_name = 'feature_3') = 1 AND max(u.feature_name = 'feature_1') = 0)");
    let with1 = w.one("SELECT avg(x) FROM (SELECT s.account_id, max(u.feature_name = 'feature_7') AS x FROM feature_usage u JOIN subscriptions s USING (subscription_id) GROUP BY s.account_id HAVING max(u.feature_name = 'feature_1') = 1 AND max(u.feature_name = 'feature_3') = 0)");
    assert!(
        with3 > with1 + 0.15,
        "feature_7 among feature_3 users {with3} vs feature_1 users {with1}"
    );
}

#[test]
fn simulate_refuses_non_empty_workspace_without_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(
        &ws,
        &["simulate", "--accounts", "20", "--as-of", "2026-10-31"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("simulated 20 accounts"));
    let before = full_dump(&ws);
    let out = cge(
        &ws,
        &["simulate", "--accounts", "30", "--as-of", "2026-10-31"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already holds 20 accounts; pass --replace"),
        "{}",
        stderr(&out)
    );
    assert_eq!(full_dump(&ws), before);
    let out = cge(
        &ws,
        &[
            "simulate",
            "--accounts",
            "30",
            "--as-of",
            "2026-10-31",
            "--replace",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&ws)[0], 30);
    let out = cge(
        &ws,
        &["simulate", "--accounts", "30", "--as-of", "2026-13-01"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expected a date YYYY-MM-DD"),
        "{}",
        stderr(&out)
    );
}

/// The command that made `sample_db/workspace.db` (also in the README).
pub const SAMPLE_ARGS: [&str; 7] = [
    "simulate",
    "--accounts",
    "500",
    "--seed",
    "42",
    "--as-of",
    "2026-10-31",
];

#[test]
fn committed_sample_is_reproduced_by_its_command() {
    let tmp = tempfile::tempdir().unwrap();
    // Work on a copy: opening the committed file would leave WAL files in the repo.
    let committed = tmp.path().join("committed.db");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_db/workspace.db"),
        &committed,
    )
    .unwrap();
    let fresh = tmp.path().join("fresh.db");
    let out = cge(&fresh, &SAMPLE_ARGS);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        full_dump(&committed) == full_dump(&fresh),
        "sample_db/ drifted from the simulator: regenerate it with `cge {}`",
        SAMPLE_ARGS.join(" ")
    );
    let info = stdout(&cge(&committed, &["info"]));
    assert!(
        info.contains("accounts                  500  2024-10-31 .. 2026-10-30"),
        "{info}"
    );
}
