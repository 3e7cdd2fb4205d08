//! `cge run`: golden records for every snapshot the models need, the churn model's
//! backtest (how it would have done last quarter on outcomes it never saw) and today's
//! calibrated scores with their drivers.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde::Serialize;

use crate::features::{self, per_feature};
use crate::job::Reporter;
use crate::models::boost::BoostParams;
use crate::models::churn::{ChurnModel, Drivers};
use crate::models::dataset::{self, Design, LabelSource, Plan, Snapshot};
use crate::models::escalation::{self, EscalationModel};
use crate::models::evaluate::Evaluation;
use crate::models::{crosssell, map};
use crate::workspace::Workspace;
use crate::workspace::dates::format_date;

/// Which churn labels to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelChoice {
    /// Dated churn events when they look real, else the churn flag.
    Auto,
    ChurnEvents,
    ChurnFlag,
}

/// If more than this share of churn events is followed by product usage a month later, the
/// events are not when accounts left (the original notebook's CSVs: random event dates).
pub const UNRELIABLE_EVENTS_SHARE: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `None`: the workspace's data as-of date.
    pub as_of: Option<NaiveDate>,
    pub horizon: i64,
    /// Month-end snapshots stacked for training (fewer when history is short).
    pub snapshots: usize,
    pub label: LabelChoice,
    pub params: BoostParams,
    /// A permutation test: shuffle the training labels with this seed. A model that still
    /// beats the base rate would be learning from something other than the labels (a leak).
    pub permute_labels: Option<u64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            as_of: None,
            horizon: 90,
            snapshots: 6,
            label: LabelChoice::Auto,
            params: BoostParams::default(),
            permute_labels: None,
        }
    }
}

/// A product feature to offer, and how strongly accounts like this one use it (0–1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offer {
    pub feature: String,
    pub affinity: f64,
}

/// One account's scores today.
#[derive(Debug, Clone, Serialize)]
pub struct AccountScore {
    pub account_id: String,
    pub churn_probability: f64,
    pub rule_score: f64,
    pub arr: f64,
    pub drivers: Drivers,
    /// Calibrated probability of an escalated or urgent ticket within 30 days (`None` when
    /// the run had no dated history to train on).
    pub escalation_probability: Option<f64>,
    /// Cross-sell score, 0–1: collaborative-filtering affinity blended with the business rules.
    pub crosssell_score: f64,
    /// Up to three product features the account does not use yet, best first.
    pub offers: Vec<Offer>,
    /// Position on the map of the book (2-D PCA of the model inputs).
    pub map: [f64; 2],
}

/// The escalation part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationReport {
    pub days: i64,
    pub train_rows: usize,
    pub backtest: Evaluation,
    /// Share of the impurity decrease per input in today's forest, largest first.
    pub importance: Vec<(String, f64)>,
}

/// The cross-sell part of the report: hidden adoptions recovered, against popularity.
#[derive(Debug, Clone, Serialize)]
pub struct CrossSellReport {
    pub rank: usize,
    pub hit_rate_at_3: f64,
    pub popularity_hit_rate_at_3: f64,
    pub accounts_evaluated: usize,
    /// Share of the standardized inputs' variance along the map's two axes.
    pub map_explained: [f64; 2],
}

/// The churn part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    pub label_source: String,
    /// Why that label source (the check on the churn events, or the user's choice).
    pub label_note: String,
    pub horizon_days: i64,
    pub eval_snapshot: Option<NaiveDate>,
    pub backtest_train_snapshots: Vec<NaiveDate>,
    pub train_snapshots: Vec<NaiveDate>,
    pub train_rows: usize,
    pub backtest: Evaluation,
    /// Share of the input's total gain in today's model, largest first.
    pub importance: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub as_of: NaiveDate,
    pub accounts_scored: usize,
    pub churn: ChurnReport,
    /// `None` when only undated churn flags were usable (no snapshots to train on).
    pub escalation: Option<EscalationReport>,
    pub crosssell: CrossSellReport,
    #[serde(skip)]
    pub scores: Vec<AccountScore>,
}

fn report_stage(reporter: &Reporter, stage: &str, percent: u8, message: String) {
    reporter.progress(stage, percent, message);
}

/// Run the models as of the options' date.
pub fn run(ws: &mut Workspace, opts: &RunOptions, reporter: &Reporter) -> Result<RunReport> {
    let today = match opts.as_of {
        Some(d) => d,
        None => features::default_as_of(ws)?,
    };
    let first = dataset::first_data_date(ws.conn())?;
    let plan = Plan::new(today, opts.horizon, opts.snapshots, first)?;
    let (source, label_note) = label_source(ws, opts.label)?;

    // Golden records and per-feature usage for every date (computed, never stored).
    let dates = if source == LabelSource::ChurnFlag {
        vec![today]
    } else {
        plan.dates()
    };
    // The per-feature usage matrices come from one scan of the usage table, on a second
    // read-only connection while this one computes the golden records (two cores busy). Each
    // record becomes its snapshot's inputs at once and is dropped, today's excepted: at
    // 100,000 accounts ten records and their matrices together weighed over a gigabyte.
    let path = ws.path().to_path_buf();
    let cancel = reporter.cancel_flag();
    let (usage, snaps, today_record) = std::thread::scope(|scope| -> Result<_> {
        let scan = scope.spawn(|| -> Result<Vec<per_feature::FeatureUsage>> {
            let mut c = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(crate::workspace::busy_timeout())?;
            c.progress_handler(
                20_000,
                Some(move || cancel.load(std::sync::atomic::Ordering::Relaxed)),
            )?;
            per_feature::matrices(&c, &dates, per_feature::DEFAULT_DAYS)
        });
        let mut snaps = BTreeMap::new();
        let mut today_record = None;
        for (i, d) in dates.iter().enumerate() {
            reporter.check()?;
            report_stage(
                reporter,
                "snapshots",
                (5 + 50 * i / dates.len()) as u8,
                format!("golden record as of {d} ({}/{})", i + 1, dates.len()),
            );
            let record = features::compute(ws, *d, &Reporter::silent())?;
            snaps.insert(*d, Snapshot::from_record(&record)?);
            if *d == today {
                today_record = Some(record);
            }
        }
        report_stage(reporter, "snapshots", 55, "per-feature usage".into());
        let usage = scan
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the per-feature usage scan crashed")));
        reporter.check()?;
        Ok((usage?, snaps, today_record.context("today's record")?))
    })?;
    let product_features = usage
        .first()
        .map(|u| u.features.clone())
        .unwrap_or_default();
    let mut snaps = snaps;
    let mut today_usage = None;
    for u in usage {
        if let Some(s) = snaps.get_mut(&u.as_of) {
            s.add_usage(&u, &product_features)?;
        }
        if u.as_of == today {
            today_usage = Some(u);
        }
    }
    let today_usage = &today_usage.context("today's usage")?;
    // Today's accounts are scored, never trained on (their outcomes are not known yet).
    let today_snap = snaps.remove(&today).context("today's snapshot")?;
    if today_snap.is_empty() {
        bail!("no account is active as of {today}: nothing to score");
    }

    // The record scans are over: give back the page cache they needed.
    ws.conn().pragma_update(None, "cache_size", -2000)?;
    ws.conn().execute_batch("PRAGMA shrink_memory")?;
    let conn = ws.conn();
    let (report, model, escalation) = match source {
        LabelSource::ChurnEvents => {
            let churn_y = |snaps: &Snapshots, ds: &[NaiveDate], permute: Option<u64>| {
                labels(snaps, ds, permute, |ids, d| {
                    dataset::churn_labels(conn, ids, d, plan.horizon)
                })
            };
            let escalation_y = |snaps: &Snapshots, ds: &[NaiveDate]| {
                labels(snaps, ds, None, |ids, d| {
                    dataset::escalation_labels(conn, ids, d, dataset::ESCALATION_DAYS)
                })
            };
            let forest = escalation::params(opts.params.seed);

            // The backtest: both models on one stack of the earlier month-ends, freed after.
            reporter.check()?;
            report_stage(
                reporter,
                "churn backtest",
                60,
                format!(
                    "training on {} month-ends before {}",
                    plan.backtest_train.len(),
                    plan.eval
                ),
            );
            let (back_churn, back_escalation) = {
                let (bx, bg) = stack(&snaps, &plan.backtest_train)?;
                let by = churn_y(&snaps, &plan.backtest_train, opts.permute_labels)?;
                let by_esc = escalation_y(&snaps, &plan.backtest_train)?;
                // Month-ends only the backtest trains on are in the stack now: free them.
                snaps.retain(|d, _| plan.train.contains(d));
                let churn = ChurnModel::fit(&bx, &by, &bg, &opts.params)?;
                reporter.check()?;
                report_stage(
                    reporter,
                    "escalation backtest",
                    70,
                    "random forest on the same month-ends".into(),
                );
                let esc = EscalationModel::fit(&bx, &by_esc, &bg, &forest)?;
                (churn, esc)
            };
            let eval = &snaps[&plan.eval];
            let ey = dataset::churn_labels(conn, &eval.account_ids, plan.eval, plan.horizon)?;
            // sim_truth holds the 90-day hazard: an oracle only for that horizon.
            let oracle = if plan.horizon == 90 {
                oracle(conn, &eval.account_ids, plan.eval)?
            } else {
                None
            };
            let backtest = Evaluation::new(
                &back_churn.predict(&eval.x)?,
                &ey,
                &eval.rule_churn,
                oracle.as_deref(),
            );
            let esc_y = dataset::escalation_labels(
                conn,
                &eval.account_ids,
                plan.eval,
                dataset::ESCALATION_DAYS,
            )?;
            let esc_backtest = Evaluation::new(
                &back_escalation.predict(&eval.x)?,
                &esc_y,
                &eval.rule_escalation,
                None,
            );
            drop((back_churn, back_escalation));

            // Today's models: one stack of the month-ends whose outcomes are known.
            reporter.check()?;
            report_stage(
                reporter,
                "churn model",
                80,
                format!(
                    "training on {} month-ends up to {}",
                    plan.train.len(),
                    plan.eval
                ),
            );
            let (tx, tg) = stack(&snaps, &plan.train)?;
            let ty = churn_y(&snaps, &plan.train, opts.permute_labels)?;
            let esc_ty = escalation_y(&snaps, &plan.train)?;
            // Everything the models need from the month-ends is in the stack and the labels.
            drop(snaps);
            let model = ChurnModel::fit(&tx, &ty, &tg, &opts.params)?;
            reporter.check()?;
            report_stage(
                reporter,
                "escalation model",
                88,
                "random forest on the same month-ends".into(),
            );
            let esc_model = EscalationModel::fit(&tx, &esc_ty, &tg, &forest)?;
            drop((tx, tg));
            let probs = esc_model.predict(&today_snap.x)?;
            let mut importance = esc_model.importance();
            importance.truncate(20);
            let report = ChurnReport {
                label_source: "churn-events".into(),
                label_note,
                horizon_days: plan.horizon,
                eval_snapshot: Some(plan.eval),
                backtest_train_snapshots: plan.backtest_train.clone(),
                train_snapshots: plan.train.clone(),
                train_rows: ty.len(),
                backtest,
                importance: model.importance(),
            };
            let escalation = EscalationReport {
                days: dataset::ESCALATION_DAYS,
                train_rows: esc_ty.len(),
                backtest: esc_backtest,
                importance,
            };
            (report, model, Some((escalation, probs)))
        }
        LabelSource::ChurnFlag => {
            // One undated label per account: scored out of fold on today's snapshot, each
            // account by a model that never saw it.
            let y = dataset::churn_flags(conn, &today_snap.account_ids)?;
            let oof = crate::models::churn::out_of_fold(
                &today_snap.x,
                &y,
                &today_snap.account_ids,
                &opts.params,
                5,
            )?;
            let probs: Vec<f64> = oof
                .iter()
                .map(|&z| crate::models::calibrate::sigmoid(z))
                .collect();
            let backtest = Evaluation::new(&probs, &y, &today_snap.rule_churn, None);
            let model = ChurnModel::fit(&today_snap.x, &y, &today_snap.account_ids, &opts.params)?;
            let report = ChurnReport {
                label_source: "churn-flag".into(),
                label_note,
                horizon_days: plan.horizon,
                eval_snapshot: None,
                backtest_train_snapshots: Vec::new(),
                train_snapshots: vec![today],
                train_rows: y.len(),
                backtest,
                importance: model.importance(),
            };
            (report, model, None)
        }
    };

    report_stage(
        reporter,
        "scoring",
        95,
        format!("{} active accounts as of {today}", today_snap.len()),
    );
    let probs = model.predict(&today_snap.x)?;
    let drivers = model.drivers(&today_snap.x, 3)?;
    let scores = today_snap
        .account_ids
        .iter()
        .enumerate()
        .map(|(i, id)| AccountScore {
            account_id: id.clone(),
            churn_probability: probs[i],
            rule_score: today_snap.rule_churn[i],
            arr: today_snap.arr[i],
            drivers: drivers[i].clone(),
            escalation_probability: escalation.as_ref().map(|(_, p)| p[i]),
            crosssell_score: 0.0,
            offers: Vec::new(),
            map: [0.0; 2],
        })
        .collect::<Vec<_>>();
    // Cross-sell: factorize today's adoption matrix of the active accounts, check it on hidden
    // adoptions, and blend its affinity with the business rules.
    report_stage(
        reporter,
        "cross-sell",
        97,
        "collaborative filtering on product adoption".into(),
    );
    let rows = crosssell::active_rows(today_usage, &today_record)?;
    let params = crosssell::Params::default();
    let cs = crosssell::fit(today_usage, Some(&rows), &params)?;
    let hits = crosssell::evaluate(today_usage, Some(&rows), &params, 42)?;
    let hybrid: HashMap<String, f64> = cs.hybrid_scores(&today_record)?.into_iter().collect();
    // The map of the book: today's model inputs, one point per scored account.
    let map = map::embed(&today_snap.x.view()?.to_owned())?;
    let scores = scores
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s.crosssell_score = hybrid.get(&s.account_id).copied().unwrap_or(0.0);
            s.offers = cs
                .recommend(&s.account_id, 3)
                .into_iter()
                .map(|r| Offer {
                    feature: r.feature,
                    affinity: r.affinity,
                })
                .collect();
            s.map = map.coords[i];
            s
        })
        .collect::<Vec<_>>();
    let crosssell_report = CrossSellReport {
        rank: cs.rank,
        hit_rate_at_3: hits.model,
        popularity_hit_rate_at_3: hits.popularity,
        accounts_evaluated: hits.accounts,
        map_explained: map.explained,
    };
    report_stage(
        reporter,
        "done",
        100,
        format!("{} accounts scored", scores.len()),
    );
    Ok(RunReport {
        as_of: today,
        accounts_scored: scores.len(),
        churn: report,
        escalation: escalation.map(|(r, _)| r),
        crosssell: crosssell_report,
        scores,
    })
}

/// Snapshots by date.
type Snapshots = BTreeMap<NaiveDate, Snapshot>;

/// The snapshots of `dates` stacked into one training set: inputs and each row's account.
fn stack(snaps: &Snapshots, dates: &[NaiveDate]) -> Result<(Design, Vec<String>)> {
    let x = Design::stack(&dates.iter().map(|d| &snaps[d].x).collect::<Vec<_>>())?;
    let g = dates
        .iter()
        .flat_map(|d| snaps[d].account_ids.iter().cloned())
        .collect();
    Ok((x, g))
}

/// The labels of the stacked `dates` from `label`, optionally permuted with a seed (the
/// permutation test).
fn labels(
    snaps: &Snapshots,
    dates: &[NaiveDate],
    permute: Option<u64>,
    label: impl Fn(&[String], NaiveDate) -> Result<Vec<bool>>,
) -> Result<Vec<bool>> {
    let mut y = Vec::new();
    for d in dates {
        y.extend(label(&snaps[d].account_ids, *d)?);
    }
    if let Some(seed) = permute {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        y.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    }
    Ok(y)
}

/// Decide the churn label source; the note says why, for the report.
fn label_source(ws: &Workspace, choice: LabelChoice) -> Result<(LabelSource, String)> {
    let followed = dataset::churn_events_followed_by_usage(ws.conn())?;
    let pct = |s: f64| format!("{:.0} %", 100.0 * s);
    Ok(match (choice, followed) {
        (LabelChoice::ChurnEvents, _) => (
            LabelSource::ChurnEvents,
            "chosen with --label churn-events".into(),
        ),
        (LabelChoice::ChurnFlag, _) => (
            LabelSource::ChurnFlag,
            "chosen with --label churn-flag".into(),
        ),
        (LabelChoice::Auto, Some(s)) if s > UNRELIABLE_EVENTS_SHARE => (
            LabelSource::ChurnFlag,
            format!(
                "{} of churn events are followed by product usage more than 30 days later, so their dates \
                 are not when accounts left: using accounts.churn_flag, scored out of fold (5 folds)",
                pct(s)
            ),
        ),
        (LabelChoice::Auto, Some(s)) => (
            LabelSource::ChurnEvents,
            format!(
                "churn-event dates: {} of events are followed by usage a month later",
                pct(s)
            ),
        ),
        (LabelChoice::Auto, None) => (
            LabelSource::ChurnEvents,
            "no churn events: accounts whose subscriptions all ended count as churned".into(),
        ),
    })
}

/// The simulator's true 90-day hazard at `t` (simulated workspaces only).
fn oracle(
    conn: &rusqlite::Connection,
    accounts: &[String],
    t: NaiveDate,
) -> Result<Option<Vec<f64>>> {
    let mut stmt =
        conn.prepare("SELECT account_id, churn_hazard_90d FROM sim_truth WHERE month_end = ?1")?;
    let map: std::collections::HashMap<String, f64> = stmt
        .query_map([format_date(t)], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if map.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        accounts
            .iter()
            .map(|a| map.get(a).copied().unwrap_or(0.0))
            .collect(),
    ))
}

/// The report as a readable table, with a verdict in words.
pub fn summary(r: &RunReport) -> String {
    let c = &r.churn;
    let b = &c.backtest;
    let f = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
    let mut out = format!(
        "churn model as of {} (labels: {}; horizon {} days)\n  {}\n",
        r.as_of, c.label_source, c.horizon_days, c.label_note
    );
    match (c.eval_snapshot, c.backtest_train_snapshots.last(), c.backtest_train_snapshots.first()) {
        (Some(e), Some(first), Some(last)) => out.push_str(&format!(
            "  backtest: trained on {} month-ends {first} .. {last}, evaluated on {e}: {} active accounts, {} churned within {} days (base rate {:.1} %)\n\n",
            c.backtest_train_snapshots.len(),
            b.n,
            b.positives,
            c.horizon_days,
            100.0 * b.base_rate
        )),
        _ => out.push_str(&format!(
            "  out-of-fold evaluation on {} accounts, {} flagged churned (base rate {:.1} %)\n\n",
            b.n,
            b.positives,
            100.0 * b.base_rate
        )),
    }
    out.push_str(&format!(
        "  {:<16} {:>8} {:>8} {:>8} {:>10}\n",
        "metric", "model", "rule", "oracle", "base rate"
    ));
    out.push_str(&format!(
        "  {:<16} {:>8} {:>8} {:>8} {:>10}\n",
        "PR-AUC",
        f(b.pr_auc, 3),
        f(b.rule_pr_auc, 3),
        f(b.oracle_pr_auc, 3),
        format!("{:.3}", b.base_rate)
    ));
    out.push_str(&format!(
        "  {:<16} {:>8} {:>8} {:>8} {:>10}\n",
        "ROC-AUC",
        f(b.roc_auc, 3),
        f(b.rule_roc_auc, 3),
        f(b.oracle_roc_auc, 3),
        "0.500"
    ));
    out.push_str(&format!(
        "  {:<16} {:>8} {:>8} {:>8} {:>10}\n",
        "Brier",
        f(b.brier, 4),
        "-",
        "-",
        f(b.base_rate_brier, 4)
    ));
    out.push_str(&format!(
        "  {:<16} {:>8} {:>8} {:>8} {:>10}\n",
        "precision @10%",
        f(b.precision_at_10pct, 3),
        f(b.rule_precision_at_10pct, 3),
        "-",
        format!("{:.3}", b.base_rate)
    ));
    out.push_str(&format!(
        "  {:<16} {:>8} {:>8} {:>8} {:>10}\n\n",
        "lift @10%",
        f(b.lift_at_10pct, 2),
        f(
            b.rule_precision_at_10pct
                .map(|p| p / b.base_rate.max(f64::MIN_POSITIVE)),
            2
        ),
        "-",
        "1.00"
    ));
    out.push_str(&format!("  verdict: {}\n", verdict(b, "churners")));
    let top: Vec<String> = c
        .importance
        .iter()
        .take(8)
        .map(|(n, g)| format!("{n} {:.0} %", 100.0 * g))
        .collect();
    out.push_str(&format!(
        "  top inputs (share of gain): {}\n\n",
        top.join(", ")
    ));
    if let Some(e) = &r.escalation {
        let b = &e.backtest;
        out.push_str(&format!(
            "escalation model (an escalated or urgent ticket within {} days), backtest on {} accounts, {} escalated (base rate {:.1} %):\n",
            e.days,
            b.n,
            b.positives,
            100.0 * b.base_rate
        ));
        out.push_str(&format!(
            "  PR-AUC {} (rule escalation_intensity_score {}), ROC-AUC {} (rule {}), Brier {} (base rate {})\n",
            f(b.pr_auc, 3),
            f(b.rule_pr_auc, 3),
            f(b.roc_auc, 3),
            f(b.rule_roc_auc, 3),
            f(b.brier, 4),
            f(b.base_rate_brier, 4)
        ));
        out.push_str(&format!("  verdict: {}\n\n", verdict(b, "escalations")));
    }
    let x = &r.crosssell;
    out.push_str(&format!(
        "cross-sell (rank-{} factorization of product adoption): hidden adoptions found in the top 3 for {:.0} % of {} accounts, against {:.0} % for the most popular features{}\n\n",
        x.rank,
        100.0 * x.hit_rate_at_3,
        x.accounts_evaluated,
        100.0 * x.popularity_hit_rate_at_3,
        if x.hit_rate_at_3 >= 2.0 * x.popularity_hit_rate_at_3 {
            ""
        } else {
            " — NOT twice as good as popularity"
        }
    ));
    let expected: f64 = r.scores.iter().map(|s| s.churn_probability).sum();
    let at_risk: f64 = r
        .scores
        .iter()
        .map(|s| s.churn_probability * s.arr.max(0.0))
        .sum();
    out.push_str(&format!(
        "today: {} active accounts scored; expected to churn within {} days: {:.0} accounts, ${:.0} ARR at risk\n",
        r.accounts_scored, c.horizon_days, expected, at_risk
    ));
    // The largest expected losses, with what drives each (associated with, not caused by).
    let mut top: Vec<&AccountScore> = r.scores.iter().collect();
    top.sort_by(|a, b| {
        (b.churn_probability * b.arr.max(0.0)).total_cmp(&(a.churn_probability * a.arr.max(0.0)))
    });
    for s in top.iter().take(5) {
        let why: Vec<&str> = s.drivers.up.iter().map(|d| d.words.as_str()).collect();
        out.push_str(&format!(
            "  {:<14} risk {:>4.1} %  ARR ${:<10.0} {}\n",
            s.account_id,
            100.0 * s.churn_probability,
            s.arr,
            why.join("; ")
        ));
    }
    out
}

/// Whether the model earned its place, in words.
pub fn verdict(b: &Evaluation, what: &str) -> String {
    let (Some(m), rule) = (b.pr_auc, b.rule_pr_auc) else {
        return "no outcome in the evaluation window: nothing to measure".into();
    };
    let mut parts = Vec::new();
    if m < 2.0 * b.base_rate {
        parts.push(format!(
            "the model does NOT beat the base rate meaningfully (PR-AUC {m:.3} vs base rate {:.3}): its scores carry little information",
            b.base_rate
        ));
    } else {
        parts.push(format!(
            "the model ranks {what} {:.1}× better than chance (PR-AUC {m:.3} vs base rate {:.3})",
            m / b.base_rate,
            b.base_rate
        ));
    }
    match rule {
        Some(r) if m > r => parts.push(format!("it beats the rule score ({r:.3})")),
        Some(r) => parts.push(format!(
            "it does NOT beat the rule score ({r:.3}): prefer the rules"
        )),
        None => {}
    }
    if let (Some(brier), Some(base)) = (b.brier, b.base_rate_brier)
        && brier >= base
    {
        parts.push(format!(
            "its probabilities are no better than always saying the base rate (Brier {brier:.4} vs {base:.4})"
        ));
    }
    if let Some(share) = b.oracle_share() {
        parts.push(format!(
            "it reaches {:.0} % of the oracle's PR-AUC",
            100.0 * share
        ));
    }
    parts.join("; ")
}

/// Store a run's report and every account's scores in one transaction; returns the run id.
/// A run that fails before this leaves the stored runs as they were.
pub fn store(ws: &mut Workspace, report: &RunReport) -> Result<i64> {
    let tx = ws
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO model_runs (as_of, horizon_days, label_source, report_json) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            format_date(report.as_of),
            report.churn.horizon_days,
            report.churn.label_source,
            serde_json::to_string(report)?
        ],
    )?;
    let run_id = tx.last_insert_rowid();
    {
        let mut insert = tx.prepare(
            "INSERT INTO account_scores (run_id, account_id, churn_probability, churn_rule_score,
                 escalation_probability, crosssell_score, arr, drivers_json, offers_json, map_x, map_y)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let finite = |v: f64| v.is_finite().then_some(v);
        for s in &report.scores {
            insert.execute(rusqlite::params![
                run_id,
                s.account_id,
                s.churn_probability,
                finite(s.rule_score),
                s.escalation_probability,
                finite(s.crosssell_score),
                finite(s.arr),
                serde_json::to_string(&s.drivers)?,
                serde_json::to_string(&s.offers)?,
                finite(s.map[0]),
                finite(s.map[1]),
            ])?;
        }
    }
    tx.commit()?;
    Ok(run_id)
}
