//! `cge run`: golden records for every snapshot the models need, the churn model's
//! backtest (how it would have done last quarter on outcomes it never saw) and today's
//! calibrated scores with their drivers.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde::Serialize;

use super::history::{self, Change};
use crate::actions::decide::{self, Action, Facts};
use crate::actions::forecast::{self, Exposure, Forecast, ForecastCheck};
use crate::actions::playbook::Playbook;
use crate::features::{self, GoldenRecord, per_feature};
use crate::job::Reporter;
use crate::models::boost::BoostParams;
use crate::models::churn::{self, ChurnModel, Drivers};
use crate::models::dataset::{self, Design, LabelSource, Plan, Snapshot};
use crate::models::escalation::{self, EscalationModel};
use crate::models::evaluate::Evaluation;
use crate::models::outcomes::Outcomes;
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
    /// Turns the scores into actions.
    pub playbook: Playbook,
    /// Stored runs kept (the oldest beyond are deleted when a run is stored).
    pub keep_runs: usize,
}

/// Runs kept by default: a quarter of weekly runs.
pub const DEFAULT_KEEP_RUNS: usize = 12;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            as_of: None,
            horizon: 90,
            snapshots: 6,
            label: LabelChoice::Auto,
            params: BoostParams::default(),
            permute_labels: None,
            playbook: Playbook::builtin(),
            keep_runs: DEFAULT_KEEP_RUNS,
        }
    }
}

/// A product feature to offer, and how strongly accounts like this one use it (0–1).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
    /// Its nearest lookalikes that use a feature it does not, and what became of them.
    pub lookalikes: Vec<String>,
    /// Position on the map of the book (2-D PCA of the model inputs).
    pub map: [f64; 2],
    /// The playbook's next best action, with its evidence.
    pub action: Option<Action>,
    /// Since the previous stored run (`None`: no previous run, or the account is new).
    pub change: Option<Change>,
    /// The largest contributions to the churn log-odds, for the next run's "why it moved".
    pub strongest: Vec<(String, f64)>,
}

/// The escalation part of the report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EscalationReport {
    pub days: i64,
    pub train_rows: usize,
    pub backtest: Evaluation,
    /// Share of the impurity decrease per input in today's forest, largest first.
    pub importance: Vec<(String, f64)>,
}

/// The cross-sell part of the report: hidden adoptions recovered, against popularity.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CrossSellReport {
    pub rank: usize,
    pub hit_rate_at_3: f64,
    pub popularity_hit_rate_at_3: f64,
    pub accounts_evaluated: usize,
    /// Share of the standardized inputs' variance along the map's two axes.
    pub map_explained: [f64; 2],
}

/// The churn part of the report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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

/// How many accounts got an action, and what they weigh.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ActionCount {
    pub action: String,
    pub accounts: usize,
    pub urgent: bool,
    /// Urgent plays within their owner's capacity this week.
    pub this_week: usize,
    /// Urgent plays beyond it, queued for later weeks.
    pub queued: usize,
    pub arr_at_risk: f64,
    pub expected_expansion: f64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    pub as_of: NaiveDate,
    pub accounts_scored: usize,
    pub churn: ChurnReport,
    /// `None` when only undated churn flags were usable (no snapshots to train on).
    pub escalation: Option<EscalationReport>,
    pub crosssell: CrossSellReport,
    /// Where the playbook came from ("built-in" or its path).
    pub playbook: String,
    /// Accounts per action, in playbook order.
    pub actions: Vec<ActionCount>,
    /// Σ calibrated churn probability × ARR over the scored accounts.
    pub arr_at_risk: f64,
    /// Expected gross revenue retention over the horizon, with its 80 % interval.
    pub forecast: Forecast,
    /// The same forecast made at the backtest date, against the ARR actually lost since.
    pub forecast_backtest: Option<ForecastCheck>,
    /// The run the changes are measured against.
    pub previous_run: Option<i64>,
    /// Seconds per stage, in order.
    pub timings: Vec<(String, f64)>,
    #[serde(skip)]
    pub scores: Vec<AccountScore>,
    /// Today's golden record (stored with the run).
    #[serde(skip)]
    pub record: Option<GoldenRecord>,
}

/// Progress to the reporter, and each stage's time from its first report to the next stage's.
struct Stages<'a> {
    reporter: &'a Reporter,
    times: std::cell::RefCell<Vec<(String, std::time::Instant)>>,
}

impl<'a> Stages<'a> {
    fn new(reporter: &'a Reporter) -> Self {
        Stages {
            reporter,
            times: Default::default(),
        }
    }

    fn report(&self, stage: &str, percent: u8, message: String) {
        let mut t = self.times.borrow_mut();
        if t.last().is_none_or(|(s, _)| s != stage) {
            t.push((stage.to_string(), std::time::Instant::now()));
        }
        drop(t);
        self.reporter.progress(stage, percent, message);
    }

    /// Seconds per stage, the last one ending now.
    fn seconds(&self) -> Vec<(String, f64)> {
        let t = self.times.borrow();
        let now = std::time::Instant::now();
        t.iter()
            .enumerate()
            .map(|(i, (s, start))| {
                let end = t.get(i + 1).map_or(now, |(_, e)| *e);
                (s.clone(), (end - *start).as_secs_f64())
            })
            .collect()
    }
}

/// The pipeline up to storing: golden records → models → actions → forecast, as of the
/// options' date. [`store`] then writes the run in one transaction.
pub fn run(ws: &mut Workspace, opts: &RunOptions, reporter: &Reporter) -> Result<RunReport> {
    let stages = Stages::new(reporter);
    let report_stage =
        |stage: &str, percent: u8, message: String| stages.report(stage, percent, message);
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
    // One read of the usage table serves every date (features::batch). Each record becomes
    // its snapshot's inputs at once and is dropped, today's excepted: at 100,000 accounts
    // ten records and their matrices together weighed over a gigabyte.
    report_stage("snapshots", 5, format!("usage as of {} dates", dates.len()));
    let built = features::batch::compute_batch(
        ws,
        &dates,
        per_feature::DEFAULT_DAYS,
        reporter,
        |record, usage| {
            // Every matrix of a batch has the same columns (the features of its usage read).
            let mut snap = Snapshot::from_record(&record)?;
            snap.add_usage(&usage, &usage.features)?;
            let d = record.as_of;
            Ok((d, snap, (d == today).then_some((record, usage))))
        },
        |done, d| {
            report_stage(
                "snapshots",
                (5 + 50 * done / dates.len()) as u8,
                format!("golden record as of {d} ({done}/{})", dates.len()),
            )
        },
    )?;
    let mut snaps = Snapshots::new();
    let mut today_data = None;
    for (d, snap, kept) in built {
        snaps.insert(d, snap);
        if kept.is_some() {
            today_data = kept;
        }
    }
    let (today_record, today_usage) = today_data.context("today's record")?;
    let today_usage = &today_usage;
    // Today's accounts are scored, never trained on (their outcomes are not known yet).
    let today_snap = snaps.remove(&today).context("today's snapshot")?;
    if today_snap.is_empty() {
        bail!("no account is active as of {today}: nothing to score");
    }

    // Give back any large page cache an earlier record build left on this connection
    // (`features::compute` sets one; the batch does not).
    ws.conn().pragma_update(None, "cache_size", -2000)?;
    ws.conn().execute_batch("PRAGMA shrink_memory")?;
    let conn = ws.conn();
    let (report, model, escalation, forecast_backtest, level) = match source {
        LabelSource::ChurnEvents => {
            let outcomes = Outcomes::load(conn)?;
            let churn_y = |snaps: &Snapshots, ds: &[NaiveDate], permute: Option<u64>| {
                labels(snaps, ds, permute, |ids, d| {
                    outcomes.churn(ids, d, plan.horizon)
                })
            };
            let escalation_y = |snaps: &Snapshots, ds: &[NaiveDate]| {
                labels(snaps, ds, None, |ids, d| {
                    outcomes.escalation(ids, d, dataset::ESCALATION_DAYS)
                })
            };
            let forest = escalation::params(opts.params.seed);
            // Asked before each booster and forest: a cancel lands within one fit.
            let stop = &|| -> Result<()> { Ok(reporter.check()?) };

            // The backtest: both models on one stack of the earlier month-ends, freed after.
            reporter.check()?;
            report_stage(
                "churn backtest",
                60,
                format!(
                    "training on {} month-ends before {}",
                    plan.backtest_train.len(),
                    plan.eval
                ),
            );
            let (back_churn, back_escalation, back_level) = {
                // Month-ends only the backtest trains on are freed as they are stacked.
                let (bx, bg) = stack(&mut snaps, &plan.backtest_train, |d| plan.train.contains(d))?;
                let by = churn_y(&snaps, &plan.backtest_train, opts.permute_labels);
                let by_esc = escalation_y(&snaps, &plan.backtest_train);
                let arrs = arrs(&snaps, &plan.backtest_train);
                // Month-ends only the backtest trains on are in the stack now: free them.
                snaps.retain(|d, _| plan.train.contains(d));
                let (churn, oof) = ChurnModel::fit_with_oof(&bx, &by, &bg, &opts.params, stop)?;
                let level = level(&arrs, &oof, &by);
                reporter.check()?;
                report_stage(
                    "escalation backtest",
                    70,
                    "random forest on the same month-ends".into(),
                );
                let esc = EscalationModel::fit_checked(&bx, &by_esc, &bg, &forest, stop)?;
                (churn, esc, level)
            };
            let eval = &snaps[&plan.eval];
            let ey = outcomes.churn(&eval.account_ids, plan.eval, plan.horizon);
            // sim_truth holds the 90-day hazard: an oracle only for that horizon.
            let oracle = if plan.horizon == 90 {
                oracle(conn, &eval.account_ids, plan.eval)?
            } else {
                None
            };
            let back_probs = back_churn.predict(&eval.x)?;
            let backtest = Evaluation::new(&back_probs, &ey, &eval.rule_churn, oracle.as_deref());
            // The book forecast as it would have been made at the backtest date.
            let exposures: Vec<Exposure> = back_probs
                .iter()
                .zip(&eval.arr)
                .map(|(&probability, &arr)| Exposure {
                    probability,
                    arr,
                    owner: "",
                    segment: "",
                })
                .collect();
            let forecast_check = forecast::backtest_with_level(
                &exposures,
                &ey,
                plan.horizon,
                forecast::DEFAULT_DRAWS,
                forecast::DEFAULT_SEED,
                &back_level,
            )?;
            let esc_y = outcomes.escalation(&eval.account_ids, plan.eval, dataset::ESCALATION_DAYS);
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
                "churn model",
                80,
                format!(
                    "training on {} month-ends up to {}",
                    plan.train.len(),
                    plan.eval
                ),
            );
            // Nothing needs the month-ends' inputs after this stack: each is freed as it goes.
            let (tx, tg) = stack(&mut snaps, &plan.train, |_| false)?;
            let ty = churn_y(&snaps, &plan.train, opts.permute_labels);
            let esc_ty = escalation_y(&snaps, &plan.train);
            let train_arrs = arrs(&snaps, &plan.train);
            // Everything the models need from the month-ends is in the stack and the labels.
            drop(snaps);
            let (model, oof) = ChurnModel::fit_with_oof(&tx, &ty, &tg, &opts.params, stop)?;
            let today_level = level(&train_arrs, &oof, &ty);
            drop(oof);
            reporter.check()?;
            report_stage(
                "escalation model",
                88,
                "random forest on the same month-ends".into(),
            );
            let esc_model = EscalationModel::fit_checked(&tx, &esc_ty, &tg, &forest, stop)?;
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
            (
                report,
                model,
                Some((escalation, probs)),
                Some(forecast_check),
                today_level,
            )
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
            (report, model, None, None, forecast::Level::NONE)
        }
    };

    report_stage(
        "scoring",
        92,
        format!("{} active accounts as of {today}", today_snap.len()),
    );
    let previous = history::previous(conn)?;
    let x = &today_snap.x;
    let probs = model.predict(x)?;
    let contributions = model.contributions(x)?;
    // Drivers, strongest contributions and what moved, per account: independent rows, so
    // on every core (at 100,000 accounts 1.1 s on one).
    use rayon::prelude::*;
    let mut scores: Vec<AccountScore> = today_snap
        .account_ids
        .par_iter()
        .enumerate()
        .map(|(i, id)| {
            let change = previous.as_ref().and_then(|p| {
                let before = p.accounts.get(id)?;
                Some(Change {
                    previous_run: p.run_id,
                    churn_before: before.churn,
                    churn_delta: probs[i] - before.churn,
                    action_before: before.action.clone(),
                    action_changed: false,
                    why: churn::moved(x, &contributions, i, &before.strongest, 3),
                })
            });
            AccountScore {
                account_id: id.clone(),
                churn_probability: probs[i],
                rule_score: today_snap.rule_churn[i],
                arr: today_snap.arr[i],
                drivers: churn::drivers_of(x, &contributions, i, 3),
                escalation_probability: escalation.as_ref().map(|(_, p)| p[i]),
                crosssell_score: 0.0,
                offers: Vec::new(),
                lookalikes: Vec::new(),
                map: [0.0; 2],
                action: None,
                change,
                strongest: churn::strongest(x, &contributions, i, STRONGEST_KEPT),
            }
        })
        .collect();
    drop(contributions);
    // Cross-sell: factorize today's adoption matrix of the active accounts, check it on hidden
    // adoptions, and blend its affinity with the business rules.
    report_stage(
        "cross-sell",
        95,
        "collaborative filtering on product adoption".into(),
    );
    let rows = crosssell::active_rows(today_usage, &today_record)?;
    let params = crosssell::Params::default();
    let cs = crosssell::fit(today_usage, Some(&rows), &params)?;
    let hits = crosssell::evaluate(today_usage, Some(&rows), &params, 42)?;
    let hybrid: HashMap<String, f64> = cs.hybrid_scores(&today_record)?.into_iter().collect();
    // The map of the book: today's model inputs, one point per scored account.
    let map = map::embed(&x.view()?.to_owned())?;
    for (i, s) in scores.iter_mut().enumerate() {
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
    }
    let crosssell_report = CrossSellReport {
        rank: cs.rank,
        hit_rate_at_3: hits.model,
        popularity_hit_rate_at_3: hits.popularity,
        accounts_evaluated: hits.accounts,
        map_explained: map.explained,
    };

    report_stage(
        "actions",
        97,
        format!("playbook ({})", opts.playbook.source),
    );
    let context = BookContext::of(&today_record)?;
    let mut lookalikes = lookalikes(&cs, &today_record, &context)?;
    let book: Vec<Facts> = scores
        .iter()
        .map(|s| context.facts(s, lookalikes.get(&s.account_id)))
        .collect();
    for s in scores.iter_mut() {
        s.lookalikes = lookalikes.remove(&s.account_id).unwrap_or_default();
    }
    let actions = decide::decide(&opts.playbook, &book);
    for (s, a) in scores.iter_mut().zip(actions) {
        if let Some(c) = &mut s.change {
            c.action_changed = c.action_before.as_deref() != Some(a.action.as_str());
        }
        s.action = Some(a);
    }
    let action_counts = count_actions(&opts.playbook, &scores);

    report_stage("forecast", 98, "expected gross revenue retention".into());
    let exposures: Vec<Exposure> = scores
        .iter()
        .zip(&book)
        .map(|(s, f)| Exposure {
            probability: s.churn_probability,
            arr: s.arr,
            owner: &f.owner,
            segment: context.segment(&s.account_id),
        })
        .collect();
    let forecast = forecast::forecast_with_level(
        &exposures,
        plan.horizon,
        forecast::DEFAULT_DRAWS,
        forecast::DEFAULT_SEED,
        &level,
    );
    drop(exposures);
    let arr_at_risk = scores
        .iter()
        .filter_map(|s| s.action.as_ref())
        .map(|a| a.arr_at_risk)
        .sum();
    Ok(RunReport {
        as_of: today,
        accounts_scored: scores.len(),
        churn: report,
        escalation: escalation.map(|(r, _)| r),
        crosssell: crosssell_report,
        playbook: opts.playbook.source.clone(),
        actions: action_counts,
        arr_at_risk,
        forecast,
        forecast_backtest,
        previous_run: previous.map(|p| p.run_id),
        timings: stages.seconds(),
        scores,
        record: Some(today_record),
    })
}

/// Contributions kept per account for the next run's "why it moved".
pub const STRONGEST_KEPT: usize = 8;

/// Today's golden record by account: what the evidence and the forecast read.
struct BookContext {
    row: HashMap<String, usize>,
    name: Vec<Option<String>>,
    owner: Vec<Option<String>>,
    tier: Vec<Option<String>>,
    billing: Vec<Option<String>>,
    status: Vec<Option<String>>,
    renewal: Vec<Option<f64>>,
    open: Vec<Option<f64>>,
}

impl BookContext {
    fn of(record: &GoldenRecord) -> Result<BookContext> {
        let f = &record.frame;
        let text = |c: &str| -> Result<Vec<Option<String>>> {
            Ok(f.column(c)?
                .str()?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect())
        };
        let num = |c: &str| -> Result<Vec<Option<f64>>> {
            Ok(f.column(c)?
                .cast(&polars::prelude::DataType::Float64)?
                .f64()?
                .iter()
                .collect())
        };
        let ids = text("account_id")?;
        Ok(BookContext {
            row: ids
                .iter()
                .enumerate()
                .filter_map(|(i, id)| Some((id.clone()?, i)))
                .collect(),
            name: text("account_name")?,
            owner: text("owner")?,
            tier: text("plan_tier")?,
            billing: text("billing_frequency")?,
            status: text("escalation_health_status")?,
            renewal: num("days_to_next_renewal")?,
            open: num("open_tickets")?,
        })
    }

    fn get<'a>(&self, col: &'a [Option<String>], id: &str) -> &'a str {
        self.row
            .get(id)
            .and_then(|&i| col[i].as_deref())
            .unwrap_or("")
    }

    fn name(&self, id: &str) -> String {
        let n = self.get(&self.name, id);
        if n.is_empty() {
            id.to_string()
        } else {
            n.to_string()
        }
    }

    fn segment(&self, id: &str) -> &str {
        match self.get(&self.tier, id) {
            "" => "unknown",
            t => t,
        }
    }

    fn facts(&self, s: &AccountScore, lookalikes: Option<&Vec<String>>) -> Facts {
        let id = s.account_id.as_str();
        let i = self.row.get(id).copied();
        let owner = match self.get(&self.owner, id) {
            "" => "unassigned".to_string(),
            o => o.to_string(),
        };
        Facts {
            account_id: s.account_id.clone(),
            account_name: self.name(id),
            owner,
            arr: s.arr,
            churn: s.churn_probability,
            escalation: s.escalation_probability,
            crosssell: s.crosssell_score,
            days_to_renewal: i.and_then(|i| self.renewal[i]).map(|d| d.round() as i64),
            billing: self.get(&self.billing, id).to_string(),
            open_tickets: i.and_then(|i| self.open[i]).map_or(0, |v| v as i64),
            support_status: self.get(&self.status, id).to_string(),
            risk_drivers: s.drivers.up.iter().map(|d| d.words.clone()).collect(),
            offers: s
                .offers
                .iter()
                .map(|o| (o.feature.clone(), o.affinity))
                .collect(),
            lookalikes: lookalikes.cloned().unwrap_or_default(),
        }
    }
}

/// Per account, its nearest lookalikes (in the cross-sell model's latent space) that use a
/// feature it does not, in words: "Beta Ltd (uses reporting, api; expanded)".
fn lookalikes(
    cs: &crosssell::CrossSell,
    record: &GoldenRecord,
    context: &BookContext,
) -> Result<HashMap<String, Vec<String>>> {
    let outcomes = crosssell::Outcomes::from_record(record)?;
    let all = cs.lookalikes_all(5);
    let mut out = HashMap::with_capacity(all.len());
    for (row, mut near) in all.into_iter().enumerate() {
        outcomes.annotate(&mut near);
        let words: Vec<String> = near
            .iter()
            .filter(|l| !l.adopted.is_empty())
            .map(|l| {
                let outcome = l
                    .outcome
                    .map(|o| format!("; {}", o.label()))
                    .unwrap_or_default();
                format!(
                    "{} (uses {}{outcome})",
                    context.name(&l.account_id),
                    l.adopted
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        if !words.is_empty() {
            out.insert(cs.account_ids[row].clone(), words);
        }
    }
    Ok(out)
}

fn count_actions(playbook: &Playbook, scores: &[AccountScore]) -> Vec<ActionCount> {
    playbook
        .rules
        .iter()
        .enumerate()
        .map(|(r, rule)| {
            let mine: Vec<&Action> = scores
                .iter()
                .filter_map(|s| s.action.as_ref())
                .filter(|a| a.rule == r)
                .collect();
            ActionCount {
                action: rule.action.clone(),
                accounts: mine.len(),
                urgent: rule.urgent,
                this_week: mine.iter().filter(|a| a.week == Some(0)).count(),
                queued: mine.iter().filter(|a| a.is_queued()).count(),
                arr_at_risk: mine.iter().map(|a| a.arr_at_risk).sum(),
                expected_expansion: mine.iter().map(|a| a.expected_expansion).sum(),
            }
        })
        .collect()
}

/// Snapshots by date.
type Snapshots = BTreeMap<NaiveDate, Snapshot>;

/// The snapshots of `dates` stacked into one training set: inputs and each row's account.
/// The inputs of the dates not to `keep` are taken out of `snaps` and freed once copied
/// (their accounts, ARR and rule scores stay).
fn stack(
    snaps: &mut Snapshots,
    dates: &[NaiveDate],
    keep: impl Fn(&NaiveDate) -> bool,
) -> Result<(Design, Vec<String>)> {
    let mut taken: BTreeMap<NaiveDate, Design> = dates
        .iter()
        .filter(|d| !keep(d))
        .filter_map(|d| Some((*d, std::mem::take(&mut snaps.get_mut(d)?.x))))
        .collect();
    let parts = dates
        .iter()
        .map(|d| match taken.remove(d) {
            Some(x) => std::borrow::Cow::Owned(x),
            None => std::borrow::Cow::Borrowed(&snaps[d].x),
        })
        .collect();
    let x = Design::stack_parts(parts)?;
    let g = dates
        .iter()
        .flat_map(|d| snaps[d].account_ids.iter().cloned())
        .collect();
    Ok((x, g))
}

/// The ARR of each of `dates`' accounts, in stack order.
fn arrs(snaps: &Snapshots, dates: &[NaiveDate]) -> Vec<Vec<f64>> {
    dates.iter().map(|d| snaps[d].arr.clone()).collect()
}

/// The book's churn level (see [`forecast::Level`]) from the stacked month-ends' ARR
/// (`arrs`, one per month-end), out-of-fold probabilities `p` and labels `y`.
fn level(arrs: &[Vec<f64>], p: &[f64], y: &[bool]) -> forecast::Level {
    let mut start = 0;
    let periods: Vec<(&[f64], &[f64], &[bool])> = arrs
        .iter()
        .map(|a| {
            let end = (start + a.len()).min(y.len()).min(p.len());
            let period = (a.as_slice(), &p[start..end], &y[start..end]);
            start = end;
            period
        })
        .collect();
    forecast::Level::learn(&periods)
}

/// The labels of the stacked `dates` from `label`, optionally permuted with a seed (the
/// permutation test).
fn labels(
    snaps: &Snapshots,
    dates: &[NaiveDate],
    permute: Option<u64>,
    label: impl Fn(&[String], NaiveDate) -> Vec<bool>,
) -> Vec<bool> {
    let mut y = Vec::new();
    for d in dates {
        y.extend(label(&snaps[d].account_ids, *d));
    }
    if let Some(seed) = permute {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        y.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    }
    y
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
    out.push_str(&actions_summary(r));
    let expected: f64 = r.scores.iter().map(|s| s.churn_probability).sum();
    let at_risk: f64 = r
        .scores
        .iter()
        .map(|s| s.churn_probability * s.arr.max(0.0))
        .sum();
    out.push_str(&format!(
        "today: {} active accounts scored; expected to churn within {} days: {:.0} accounts, {} ARR at risk\n",
        r.accounts_scored,
        c.horizon_days,
        expected,
        crate::actions::evidence::money(at_risk)
    ));
    // The largest expected losses, with what drives each (associated with, not caused by).
    let mut top: Vec<&AccountScore> = r.scores.iter().collect();
    top.sort_by(|a, b| {
        (b.churn_probability * b.arr.max(0.0)).total_cmp(&(a.churn_probability * a.arr.max(0.0)))
    });
    for s in top.iter().take(5) {
        let why: Vec<&str> = s.drivers.up.iter().map(|d| d.words.as_str()).collect();
        out.push_str(&format!(
            "  {:<14} risk {:>4.1} %  ARR {:<12} {}\n",
            s.account_id,
            100.0 * s.churn_probability,
            crate::actions::evidence::money(s.arr),
            why.join("; ")
        ));
    }
    out
}

/// Actions per play, the capacity queue and the book forecast, in words.
fn actions_summary(r: &RunReport) -> String {
    use crate::actions::evidence::money;
    let mut out = format!(
        "next best actions (playbook: {}):\n  {:<22} {:>8} {:>14} {:>18} {:>10} {:>7}\n",
        r.playbook, "action", "accounts", "ARR at risk", "exp. expansion", "this week", "queued"
    );
    for a in &r.actions {
        let (week, queued) = if a.urgent {
            (a.this_week.to_string(), a.queued.to_string())
        } else {
            ("-".into(), "-".into())
        };
        out.push_str(&format!(
            "  {:<22} {:>8} {:>14} {:>18} {:>10} {:>7}\n",
            a.action,
            a.accounts,
            money(a.arr_at_risk),
            money(a.expected_expansion),
            week,
            queued
        ));
    }
    let highest = r
        .scores
        .iter()
        .map(|s| s.churn_probability)
        .fold(0.0, f64::max);
    let silent: Vec<&str> = r
        .actions
        .iter()
        .filter(|a| a.urgent && a.accounts == 0)
        .map(|a| a.action.as_str())
        .collect();
    if !silent.is_empty() && !r.scores.is_empty() {
        out.push_str(&format!(
            "  note: no account got {}: the thresholds apply to calibrated probabilities, and the highest churn risk in the book is {:.2} (base rate {:.3}); lower them in the playbook to flag the riskiest accounts\n",
            silent.join(" or "),
            highest,
            r.churn.backtest.base_rate
        ));
    }
    out.push_str(&format!(
        "book forecast over {} days: {}\n",
        r.forecast.horizon_days,
        r.forecast.book.describe()
    ));
    out.push_str(&format!("  {}\n", r.forecast.level_note()));
    for o in r.forecast.by_owner.iter().take(3) {
        out.push_str(&format!("  {}\n", o.describe()));
    }
    if let Some(c) = &r.forecast_backtest {
        out.push_str(&format!(
            "  how the forecast held last quarter: {}; ARR actually lost {} (GRR {:.1} %), {} the 80 % interval\n",
            c.forecast.describe(),
            money(c.realized_loss),
            100.0 * c.realized_grr,
            if c.within_interval { "inside" } else { "OUTSIDE" }
        ));
    }
    out.push('\n');
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

/// The JSON columns of one account's stored scores.
struct ScoreJson {
    drivers: String,
    offers: String,
    lookalikes: String,
    evidence: Option<String>,
    strongest: String,
    change: Option<String>,
}

impl ScoreJson {
    fn of(s: &AccountScore) -> Result<ScoreJson> {
        Ok(ScoreJson {
            drivers: serde_json::to_string(&s.drivers)?,
            offers: serde_json::to_string(&s.offers)?,
            lookalikes: serde_json::to_string(&s.lookalikes)?,
            evidence: s
                .action
                .as_ref()
                .map(|a| serde_json::to_string(&a.evidence))
                .transpose()?,
            strongest: serde_json::to_string(&s.strongest)?,
            change: s.change.as_ref().map(serde_json::to_string).transpose()?,
        })
    }
}

/// Store a run in one transaction: its report, options and stage times, today's golden
/// record, and every account's scores, action, evidence and change; then keep only the
/// newest `opts.keep_runs` runs. Returns the run id. A run that fails, is cancelled or is
/// killed before the commit leaves the stored runs as they were.
pub fn store(
    ws: &mut Workspace,
    report: &mut RunReport,
    opts: &RunOptions,
    reporter: &Reporter,
) -> Result<i64> {
    let started = std::time::Instant::now();
    reporter.check()?;
    reporter.progress(
        "saving",
        99,
        format!("run history: {} accounts", report.scores.len()),
    );
    let params = serde_json::json!({
        "as_of": report.as_of,
        "horizon_days": opts.horizon,
        "snapshots": opts.snapshots,
        "label": format!("{:?}", opts.label),
        "seed": opts.params.seed,
        "permute_labels": opts.permute_labels,
        "keep_runs": opts.keep_runs,
        "playbook": opts.playbook,
    });
    let finished_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| chrono::DateTime::from_timestamp(d.as_secs() as i64, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    // Each account's JSON columns, serialized on every core before the write lock is taken.
    use rayon::prelude::*;
    let json: Vec<ScoreJson> = report
        .scores
        .par_iter()
        .map(ScoreJson::of)
        .collect::<Result<_>>()?;
    let tx = ws
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(record) = &report.record {
        features::store_in(&tx, record)?;
    }
    reporter.check()?;
    tx.execute(
        "INSERT INTO model_runs (as_of, horizon_days, label_source, report_json, finished_at, params_json)
         VALUES (?1, ?2, ?3, '{}', ?4, ?5)",
        rusqlite::params![
            format_date(report.as_of),
            report.churn.horizon_days,
            report.churn.label_source,
            finished_at,
            params.to_string(),
        ],
    )?;
    let run_id = tx.last_insert_rowid();
    {
        let mut insert = tx.prepare(
            "INSERT INTO account_scores (run_id, account_id, churn_probability, churn_rule_score,
                 escalation_probability, crosssell_score, arr, drivers_json, offers_json, map_x, map_y,
                 action, urgent, week, action_rank, arr_at_risk, expected_expansion, evidence_json,
                 contributions_json, change_json, churn_delta, lookalikes_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22)",
        )?;
        let finite = |v: f64| v.is_finite().then_some(v);
        for (i, (s, json)) in report.scores.iter().zip(&json).enumerate() {
            if i % 10_000 == 0 {
                reporter.check()?;
            }
            let a = s.action.as_ref();
            insert.execute(rusqlite::params![
                run_id,
                s.account_id,
                s.churn_probability,
                finite(s.rule_score),
                s.escalation_probability,
                finite(s.crosssell_score),
                finite(s.arr),
                json.drivers,
                json.offers,
                finite(s.map[0]),
                finite(s.map[1]),
                a.map(|a| a.action.as_str()),
                a.map(|a| a.urgent),
                a.and_then(|a| a.week).map(|w| w as i64),
                a.map(|a| a.rank as i64),
                a.map(|a| a.arr_at_risk),
                a.map(|a| a.expected_expansion),
                json.evidence,
                json.strongest,
                json.change,
                s.change.as_ref().map(|c| c.churn_delta),
                json.lookalikes,
            ])?;
        }
    }
    history::prune(&tx, opts.keep_runs)?;
    // The report last, with the time it took to save (the commit aside).
    report
        .timings
        .push(("saving".into(), started.elapsed().as_secs_f64()));
    tx.execute(
        "UPDATE model_runs SET report_json = ?1, timings_json = ?2 WHERE run_id = ?3",
        rusqlite::params![
            serde_json::to_string(&*report)?,
            serde_json::to_string(&report.timings)?,
            run_id
        ],
    )?;
    reporter.check()?;
    tx.commit()?;
    Ok(run_id)
}
