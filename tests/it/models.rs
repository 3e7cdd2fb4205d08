//! The churn model, held to the standard: it beats the base rate and the rule score
//! on outcomes it never saw, its probabilities are calibrated, permuted labels teach it
//! nothing, and nothing dated after a snapshot changes that snapshot's scores.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;

use crate::support::forget_after;
use cge::job::Reporter;
use cge::pipeline::run::{self, RunOptions, RunReport};
use cge::simulate::{SimConfig, simulate};
use cge::workspace::Workspace;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A 3,000-account simulated world (built once per test binary).
fn world() -> &'static (tempfile::TempDir, PathBuf) {
    static W: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    W.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("world.db");
        let mut ws = Workspace::open(&path).unwrap();
        simulate(&mut ws, &SimConfig::new(3000, 7, date("2026-10-31")), false).unwrap();
        (tmp, path)
    })
}

fn run_on(path: &Path, opts: &RunOptions) -> RunReport {
    let mut ws = Workspace::open_existing(path).unwrap();
    run::run(&mut ws, opts, &Reporter::silent()).unwrap()
}

fn report() -> &'static RunReport {
    static R: OnceLock<RunReport> = OnceLock::new();
    R.get_or_init(|| run_on(&world().1, &RunOptions::default()))
}

#[test]
fn churn_backtest_beats_the_base_rate_and_the_rule_score() {
    let r = report();
    let b = &r.churn.backtest;
    assert_eq!(r.churn.label_source, "churn-events");
    assert_eq!(r.churn.eval_snapshot, Some(date("2026-07-31")));
    assert_eq!(r.churn.backtest_train_snapshots.len(), 6);
    assert!(
        b.positives >= 40,
        "too few churners to judge: {}",
        b.positives
    );
    let pr = b.pr_auc.unwrap();
    assert!(
        pr >= 2.0 * b.base_rate,
        "PR-AUC {pr} vs base rate {}",
        b.base_rate
    );
    assert!(
        pr > b.rule_pr_auc.unwrap(),
        "PR-AUC {pr} vs rule {:?}",
        b.rule_pr_auc
    );
    assert!(b.roc_auc.unwrap() > b.rule_roc_auc.unwrap());
    // Calibrated: better than always saying the base rate.
    assert!(
        b.brier.unwrap() < b.base_rate_brier.unwrap(),
        "{:?} vs {:?}",
        b.brier,
        b.base_rate_brier
    );
    // The simulator's oracle is the ceiling the model is measured against.
    let share = b.oracle_share().unwrap();
    assert!(share > 0.5 && share < 1.2, "share of the oracle {share}");
    let text = run::summary(r);
    assert!(text.contains("it beats the rule score"), "{text}");
    assert!(!text.contains("NOT"), "{text}");
}

#[test]
fn todays_scores_are_probabilities_with_drivers_that_explain_them() {
    let r = report();
    assert!(r.scores.len() > 1500);
    let mean: f64 =
        r.scores.iter().map(|s| s.churn_probability).sum::<f64>() / r.scores.len() as f64;
    // The calibrated mean is near the training base rate (a few per cent per quarter).
    assert!(mean > 0.01 && mean < 0.2, "mean probability {mean}");
    assert!(
        r.scores
            .iter()
            .all(|s| (0.0..=1.0).contains(&s.churn_probability))
    );
    for s in r.scores.iter().take(200) {
        assert!(s.drivers.up.len() <= 3 && s.drivers.down.len() <= 3);
        assert!(s.drivers.up.iter().all(|d| d.contribution > 0.0));
        assert!(
            s.drivers
                .up
                .iter()
                .chain(&s.drivers.down)
                .all(|d| !d.words.is_empty() && !d.words.contains('_')
                    || d.words.contains("feature_")),
            "drivers in words: {:?}",
            s.drivers
        );
        assert!(s.drivers.down.iter().all(|d| d.contribution < 0.0));
        assert!(
            s.drivers
                .up
                .windows(2)
                .all(|w| w[0].contribution >= w[1].contribution),
            "strongest first"
        );
    }
    // The riskiest accounts have reasons pushing up.
    let top = r
        .scores
        .iter()
        .max_by(|a, b| a.churn_probability.total_cmp(&b.churn_probability))
        .unwrap();
    assert!(!top.drivers.up.is_empty());
}

#[test]
fn permuted_labels_teach_the_model_nothing() {
    let opts = RunOptions {
        permute_labels: Some(11),
        ..RunOptions::default()
    };
    let r = run_on(&world().1, &opts);
    let b = &r.churn.backtest;
    let pr = b.pr_auc.unwrap();
    // Chance level: the base rate, give or take sampling noise (measured about ±0.02 here).
    assert!(
        (pr - b.base_rate).abs() < 0.035,
        "PR-AUC {pr} with permuted labels vs base rate {}",
        b.base_rate
    );
    assert!(pr < report().churn.backtest.pr_auc.unwrap() * 0.6);
}

#[test]
fn rows_dated_after_the_as_of_date_change_no_score() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("w.db");
    let mut ws = Workspace::open(&path).unwrap();
    simulate(&mut ws, &SimConfig::new(900, 3, date("2026-10-31")), false).unwrap();
    drop(ws);
    let opts = RunOptions {
        as_of: Some(date("2026-08-31")),
        ..RunOptions::default()
    };
    let full = run_on(&path, &opts);
    // Change every row dated after the as-of date: drop later activity, reopen later ends.
    let ws = Workspace::open_existing(&path).unwrap();
    forget_after(ws.conn(), "2026-08-31");
    drop(ws);
    let cut = run_on(&path, &opts);
    assert_eq!(full.scores.len(), cut.scores.len());
    for (a, b) in full.scores.iter().zip(&cut.scores) {
        assert_eq!(a.account_id, b.account_id);
        assert!(
            (a.churn_probability - b.churn_probability).abs() < 1e-12,
            "{}: {} vs {}",
            a.account_id,
            a.churn_probability,
            b.churn_probability
        );
    }
    assert_eq!(full.churn.backtest, cut.churn.backtest);
}

#[test]
fn cross_sell_finds_hidden_adoptions_twice_as_often_as_popularity() {
    let r = report();
    let x = &r.crosssell;
    assert!(x.accounts_evaluated > 1000);
    assert!(
        x.hit_rate_at_3 >= 2.0 * x.popularity_hit_rate_at_3,
        "hit-rate@3 {} vs popularity {}",
        x.hit_rate_at_3,
        x.popularity_hit_rate_at_3
    );
    let with_offers = r.scores.iter().filter(|s| !s.offers.is_empty()).count();
    assert!(
        with_offers * 10 > r.scores.len() * 8,
        "{with_offers} of {}",
        r.scores.len()
    );
    for s in &r.scores {
        assert!((0.0..=1.0).contains(&s.crosssell_score));
        assert!(s.offers.len() <= 3);
        assert!(s.offers.windows(2).all(|w| w[0].affinity >= w[1].affinity));
        assert!(s.map.iter().all(|v| v.is_finite()));
    }
    assert!(x.map_explained[0] >= x.map_explained[1] && x.map_explained[1] > 0.0);
}

#[test]
fn the_json_report_has_the_documented_keys() {
    let v = serde_json::to_value(report()).unwrap();
    for path in [
        "/churn/backtest/pr_auc",
        "/churn/backtest/roc_auc",
        "/churn/backtest/brier",
        "/churn/backtest/base_rate",
        "/churn/backtest/rule_pr_auc",
        "/churn/backtest/oracle_pr_auc",
        "/churn/backtest/precision_at_10pct",
        "/churn/backtest/lift_at_10pct",
        "/churn/backtest/n",
        "/churn/backtest/positives",
        "/churn/backtest/pr_curve/0/recall",
        "/churn/backtest/reliability/0/observed",
        "/churn/importance/0",
        "/escalation/backtest/pr_auc",
        "/escalation/backtest/roc_auc",
        "/escalation/backtest/brier",
        "/escalation/backtest/base_rate",
        "/escalation/backtest/rule_pr_auc",
        "/crosssell/hit_rate_at_3",
        "/crosssell/popularity_hit_rate_at_3",
    ] {
        let got = v.pointer(path);
        assert!(
            got.is_some_and(|g| !g.is_null()),
            "{path} missing in the report"
        );
    }
}

#[test]
fn runs_are_stored_with_every_score_and_cleared_with_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("copy.db");
    std::fs::copy(&world().1, &path).unwrap();
    let r = report();
    let mut ws = Workspace::open_existing(&path).unwrap();
    let opts = RunOptions::default();
    let first = run::store(&mut ws, &mut r.clone(), &opts, &Reporter::silent()).unwrap();
    let second = run::store(&mut ws, &mut r.clone(), &opts, &Reporter::silent()).unwrap();
    assert!(second > first);
    let count = |sql: &str| -> i64 { ws.conn().query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM model_runs"), 2);
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM account_scores WHERE run_id = {first}"
        )),
        r.scores.len() as i64
    );
    // What is stored reads back as what was scored.
    let top = r
        .scores
        .iter()
        .max_by(|a, b| a.churn_probability.total_cmp(&b.churn_probability))
        .unwrap();
    let (p, drivers): (f64, String) = ws
        .conn()
        .query_row(
            "SELECT churn_probability, drivers_json FROM account_scores WHERE run_id = ?1 AND account_id = ?2",
            rusqlite::params![first, top.account_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(p, top.churn_probability);
    let esc: Option<f64> = ws
        .conn()
        .query_row(
            "SELECT escalation_probability FROM account_scores WHERE run_id = ?1 AND account_id = ?2",
            rusqlite::params![first, top.account_id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(esc, top.escalation_probability);
    let back: serde_json::Value = serde_json::from_str(&drivers).unwrap();
    assert_eq!(back, serde_json::to_value(&top.drivers).unwrap());
    let report_json: String = ws
        .conn()
        .query_row(
            "SELECT report_json FROM model_runs WHERE run_id = ?1",
            [first],
            |row| row.get(0),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&report_json).unwrap();
    assert_eq!(
        v.pointer("/churn/backtest/pr_auc").and_then(|x| x.as_f64()),
        r.churn.backtest.pr_auc
    );
    drop(ws);
    // New data: the runs computed from the old data go with it.
    let out = crate::support::cge(
        &path,
        &[
            "simulate",
            "--replace",
            "--accounts",
            "20",
            "--as-of",
            "2025-06-30",
        ],
    );
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let ws = Workspace::open_existing(&path).unwrap();
    let n: i64 = ws
        .conn()
        .query_row(
            "SELECT (SELECT count(*) FROM model_runs) + (SELECT count(*) FROM account_scores)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn escalation_backtest_beats_its_base_rate_and_rule_score() {
    let r = report();
    let e = r
        .escalation
        .as_ref()
        .expect("an escalation model on dated history");
    let b = &e.backtest;
    assert_eq!(e.days, 30);
    assert!(
        b.positives >= 40,
        "too few escalations to judge: {}",
        b.positives
    );
    let pr = b.pr_auc.unwrap();
    assert!(
        pr > b.base_rate * 1.5,
        "PR-AUC {pr} vs base rate {}",
        b.base_rate
    );
    assert!(
        pr > b.rule_pr_auc.unwrap(),
        "PR-AUC {pr} vs rule {:?}",
        b.rule_pr_auc
    );
    assert!(b.brier.unwrap() < b.base_rate_brier.unwrap());
    assert!(r.scores.iter().all(|s| {
        s.escalation_probability
            .is_some_and(|p| (0.0..=1.0).contains(&p))
    }));
}
