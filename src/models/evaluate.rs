//! How a model did on outcomes it never saw, beside the baselines a CSM already has: the base
//! rate (score everyone the same), the rule score and, on simulated data, the oracle.

use serde::Serialize;

use super::metrics::{brier, pr_auc, precision_at_k, roc_auc};

/// One point of a precision–recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct PrPoint {
    pub recall: f64,
    pub precision: f64,
}

/// One bin of a reliability table: what the model said against what happened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct ReliabilityBin {
    pub predicted: f64,
    pub observed: f64,
    pub count: usize,
}

/// The metrics of one model on one evaluation snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub n: usize,
    pub positives: usize,
    pub base_rate: f64,
    pub pr_auc: Option<f64>,
    pub roc_auc: Option<f64>,
    pub brier: Option<f64>,
    /// Brier of always predicting the base rate: a calibrated model must do better.
    pub base_rate_brier: Option<f64>,
    pub precision_at_10pct: Option<f64>,
    pub lift_at_10pct: Option<f64>,
    pub rule_pr_auc: Option<f64>,
    pub rule_roc_auc: Option<f64>,
    pub rule_precision_at_10pct: Option<f64>,
    /// The simulator's true hazard ranked the same accounts this well (simulated data only).
    pub oracle_pr_auc: Option<f64>,
    pub oracle_roc_auc: Option<f64>,
    pub pr_curve: Vec<PrPoint>,
    pub reliability: Vec<ReliabilityBin>,
}

impl Evaluation {
    /// Evaluate `probs` against `labels`, beside `rule` scores and optional `oracle` ones.
    pub fn new(probs: &[f64], labels: &[bool], rule: &[f64], oracle: Option<&[f64]>) -> Evaluation {
        let n = labels.len();
        let positives = labels.iter().filter(|&&l| l).count();
        let base_rate = if n == 0 {
            0.0
        } else {
            positives as f64 / n as f64
        };
        let k = (n as f64 * 0.1).ceil() as usize;
        let precision = precision_at_k(probs, labels, k.max(1));
        let rule_clean: Vec<f64> = rule
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { *v })
            .collect();
        Evaluation {
            n,
            positives,
            base_rate,
            pr_auc: pr_auc(probs, labels),
            roc_auc: roc_auc(probs, labels),
            brier: brier(probs, labels),
            base_rate_brier: (n > 0).then_some(base_rate * (1.0 - base_rate)),
            precision_at_10pct: precision,
            lift_at_10pct: precision.filter(|_| base_rate > 0.0).map(|p| p / base_rate),
            rule_pr_auc: pr_auc(&rule_clean, labels),
            rule_roc_auc: roc_auc(&rule_clean, labels),
            rule_precision_at_10pct: precision_at_k(&rule_clean, labels, k.max(1)),
            oracle_pr_auc: oracle.and_then(|o| pr_auc(o, labels)),
            oracle_roc_auc: oracle.and_then(|o| roc_auc(o, labels)),
            pr_curve: pr_curve(probs, labels, 50),
            reliability: reliability(probs, labels, 10),
        }
    }

    /// The model ranks better than the rule score and twice better than chance.
    pub fn beats_baselines(&self) -> bool {
        match (self.pr_auc, self.rule_pr_auc) {
            (Some(m), Some(r)) => m > r && m >= 2.0 * self.base_rate,
            (Some(m), None) => m >= 2.0 * self.base_rate,
            _ => false,
        }
    }

    /// Share of the oracle's PR-AUC the model reached.
    pub fn oracle_share(&self) -> Option<f64> {
        Some(self.pr_auc? / self.oracle_pr_auc?)
    }
}

/// At most `points` points of the precision–recall curve, at evenly spaced ranks.
pub fn pr_curve(scores: &[f64], labels: &[bool], points: usize) -> Vec<PrPoint> {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || scores.is_empty() {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let step = (scores.len() / points.max(1)).max(1);
    let mut tp = 0;
    let mut out = Vec::new();
    for (i, &k) in idx.iter().enumerate() {
        tp += usize::from(labels[k]);
        if (i + 1) % step == 0 || i + 1 == idx.len() {
            out.push(PrPoint {
                recall: tp as f64 / positives as f64,
                precision: tp as f64 / (i + 1) as f64,
            });
        }
    }
    out
}

/// Predicted against observed in `bins` groups of equal size by predicted probability
/// (equal-width bins would leave rare-event models with one crowded bin).
pub fn reliability(probs: &[f64], labels: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
    let size = probs.len().div_ceil(bins.max(1)).max(1);
    idx.chunks(size)
        .map(|c| ReliabilityBin {
            predicted: c.iter().map(|&i| probs[i]).sum::<f64>() / c.len() as f64,
            observed: c.iter().filter(|&&i| labels[i]).count() as f64 / c.len() as f64,
            count: c.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_baselines_by_hand() {
        let probs = [0.9, 0.1, 0.8, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1];
        let labels = [
            true, false, true, false, false, false, false, false, false, false,
        ];
        let rule = [1.0, 9.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let e = Evaluation::new(&probs, &labels, &rule, None);
        assert_eq!((e.n, e.positives), (10, 2));
        assert_eq!(e.base_rate, 0.2);
        assert_eq!(e.pr_auc, Some(1.0));
        // Top 10 % = 1 account, a churner: precision 1, lift 1 / 0.2 = 5.
        assert_eq!(e.precision_at_10pct, Some(1.0));
        assert_eq!(e.lift_at_10pct, Some(5.0));
        // The rule ranks a stayer first, then both churners: AP = (1/2 + 2/3) / 2.
        assert!((e.rule_pr_auc.unwrap() - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!(e.beats_baselines());
        assert!((e.base_rate_brier.unwrap() - 0.16).abs() < 1e-12);
        let last = e.pr_curve.last().unwrap();
        assert_eq!((last.recall, last.precision), (1.0, 0.2));
        let rel = reliability(&probs, &labels, 2);
        assert_eq!(rel.len(), 2);
        assert_eq!((rel[1].observed, rel[1].count), (0.4, 5));
    }
}
