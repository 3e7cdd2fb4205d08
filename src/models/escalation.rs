//! The escalation model: will the account raise an escalated or urgent ticket in the next
//! 30 days? A random forest ([`super::forest`], about 100 trees, balanced class weights),
//! calibrated on out-of-fold scores like the churn model.
//!
//! The model is the mean of the calibration's fold forests (cross-fitting), not one more
//! forest on every row: a forest's average over bootstrap samples is little changed by it
//! (5,000-account worlds, backtest PR-AUC seed 7 0.249 both ways, seed 9 0.260 -> 0.258) and
//! it saves a quarter of the work.

use anyhow::Result;

use super::calibrate::{Calibration, Method, apply_ranked};
use super::dataset::Design;
use super::folds::cross_fit;
use super::forest::{ClassWeight, ForestParams, RandomForest};

/// Folds for the out-of-fold scores the calibration is fitted on.
pub const CALIBRATION_FOLDS: usize = 3;

/// Trees in each fold forest: the model averages the three, 102 trees in all. Measured
/// against 100 per fold (300 in all): 5,000-account worlds, backtest PR-AUC seed 7 0.249 ->
/// 0.250, seed 8 0.213 -> 0.211, seed 9 0.258 -> 0.264; 100,000 accounts 0.222 -> 0.220, and
/// the stage 12 s -> 6.5 s.
pub const TREES_PER_FOLD: usize = 34;

/// Bootstrap rows per tree at most. At 100,000 accounts a fold forest trains on 280,000
/// rows; 50,000 draws per tree kept the backtest's PR-AUC (0.222) and, with the cross-fitting,
/// cut the stage from 36 s to 12 s. On 5,000-account worlds (12,600 rows per fold) fewer draws
/// did cost PR-AUC (seed 7: 0.249 at 12,600, 0.233 at 4,000): worlds under ~20,000 accounts
/// never reach the cap.
pub const MAX_DRAWS: usize = 50_000;

/// The forest's settings for escalations: balanced class weights (escalations are a few per
/// cent of accounts a month), [`TREES_PER_FOLD`] trees, at most [`MAX_DRAWS`] bootstrap rows
/// per tree, and the forest's measured defaults otherwise.
pub fn params(seed: u64) -> ForestParams {
    ForestParams {
        class_weight: ClassWeight::Balanced,
        max_draws: Some(MAX_DRAWS),
        n_trees: TREES_PER_FOLD,
        seed,
        ..ForestParams::default()
    }
}

#[derive(Debug)]
pub struct EscalationModel {
    /// The fold forests; a probability is their mean.
    pub forests: Vec<RandomForest>,
    pub calibrator: Calibration,
    pub names: Vec<String>,
}

fn fit_forest(x: &Design, y: &[bool], params: &ForestParams) -> Result<RandomForest> {
    params
        .fit_arrays(x.view()?, y, None)
        .map_err(|e| anyhow::anyhow!("the escalation model failed to train: {e}"))
}

impl EscalationModel {
    /// Train on `x`/`y` (rows grouped by account) and calibrate on out-of-fold scores.
    pub fn fit(
        x: &Design,
        y: &[bool],
        groups: &[String],
        params: &ForestParams,
    ) -> Result<EscalationModel> {
        Self::fit_checked(x, y, groups, params, &|| Ok(()))
    }

    /// [`EscalationModel::fit`], asking `stop` before each forest (a cancelled job ends there).
    pub fn fit_checked(
        x: &Design,
        y: &[bool],
        groups: &[String],
        params: &ForestParams,
        stop: &dyn Fn() -> Result<()>,
    ) -> Result<EscalationModel> {
        let (oof, models) = cross_fit(
            x,
            y,
            groups,
            CALIBRATION_FOLDS,
            |x, rows, y| fit_forest(&x.take(rows), y, params),
            |f, x| Ok(f.predict_proba(x.view()?)),
            stop,
        )?;
        let calibrator = Calibration::fit(Method::Isotonic, &oof, y)
            .map_err(|e| anyhow::anyhow!("cannot calibrate the escalation model: {e}"))?;
        Ok(EscalationModel {
            forests: models,
            calibrator,
            names: x.names.clone(),
        })
    }

    /// Calibrated probabilities of an escalation within 30 days.
    pub fn predict(&self, x: &Design) -> Result<Vec<f64>> {
        if x.names != self.names {
            anyhow::bail!("the inputs differ from the ones the escalation model was trained on");
        }
        let m = x.view()?;
        let mut raw = vec![0.0; x.rows()];
        for f in &self.forests {
            for (r, v) in raw.iter_mut().zip(f.predict_proba(m)) {
                *r += v / self.forests.len() as f64;
            }
        }
        Ok(raw
            .into_iter()
            .map(|s| apply_ranked(&self.calibrator, s))
            .collect())
    }

    /// Share of the impurity decrease per input, largest first.
    pub fn importance(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .names
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| {
                let k = self.forests.len() as f64;
                (
                    n,
                    self.forests
                        .iter()
                        .map(|f| f.feature_importance()[i])
                        .sum::<f64>()
                        / k,
                )
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}
