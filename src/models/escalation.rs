//! The escalation model: will the account raise an escalated or urgent ticket in the next
//! 30 days? A random forest ([`super::forest`], 100 trees, balanced class weights),
//! calibrated on out-of-fold scores like the churn model.

use anyhow::Result;
use ndarray::Array2;

use super::calibrate::{Calibration, Method, apply_ranked};
use super::churn::fold_of;
use super::dataset::Design;
use super::forest::{ClassWeight, ForestParams, RandomForest};

/// Folds for the out-of-fold scores the calibration is fitted on.
pub const CALIBRATION_FOLDS: usize = 3;

/// The forest's settings for escalations: balanced class weights (escalations are a few per
/// cent of accounts a month) and the forest's measured defaults otherwise.
pub fn params(seed: u64) -> ForestParams {
    ForestParams {
        class_weight: ClassWeight::Balanced,
        seed,
        ..ForestParams::default()
    }
}

#[derive(Debug)]
pub struct EscalationModel {
    pub forest: RandomForest,
    pub calibrator: Calibration,
    pub names: Vec<String>,
}

fn matrix(x: &Design) -> Result<Array2<f64>> {
    Ok(Array2::from_shape_vec(
        (x.rows(), x.names.len()),
        x.row_major(),
    )?)
}

fn fit_forest(x: &Design, y: &[bool], params: &ForestParams) -> Result<RandomForest> {
    params
        .fit_arrays(matrix(x)?.view(), y, None)
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
        let fold: Vec<usize> = groups
            .iter()
            .map(|g| fold_of(g, CALIBRATION_FOLDS))
            .collect();
        let mut oof = vec![0.0; y.len()];
        for k in 0..CALIBRATION_FOLDS {
            let train: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != k).collect();
            let test: Vec<usize> = (0..y.len()).filter(|&i| fold[i] == k).collect();
            if test.is_empty() {
                continue;
            }
            let yk: Vec<bool> = train.iter().map(|&i| y[i]).collect();
            let f = fit_forest(&x.take(&train), &yk, params)?;
            let scores = f.predict_proba(matrix(&x.take(&test))?.view());
            for (&i, s) in test.iter().zip(scores) {
                oof[i] = s;
            }
        }
        let calibrator = Calibration::fit(Method::Isotonic, &oof, y)
            .map_err(|e| anyhow::anyhow!("cannot calibrate the escalation model: {e}"))?;
        Ok(EscalationModel {
            forest: fit_forest(x, y, params)?,
            calibrator,
            names: x.names.clone(),
        })
    }

    /// Calibrated probabilities of an escalation within 30 days.
    pub fn predict(&self, x: &Design) -> Result<Vec<f64>> {
        if x.names != self.names {
            anyhow::bail!("the inputs differ from the ones the escalation model was trained on");
        }
        let raw = self.forest.predict_proba(matrix(x)?.view());
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
            .zip(self.forest.feature_importance().iter().copied())
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}
