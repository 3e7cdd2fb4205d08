//! Calibration: turn a model's scores into probabilities that mean what they say, so that
//! "ARR at risk = p × ARR" holds on average. Fitted on out-of-fold scores by the caller.

/// Probabilities never reach 0 or 1: a calibrated model is never certain.
const EPS: f64 = 1e-4;

/// A monotone map from scores to probabilities.
#[derive(Debug, Clone, PartialEq)]
pub enum Calibrator {
    /// Isotonic regression (pool-adjacent-violators): steps at increasing scores, linear
    /// between step centres.
    Isotonic { xs: Vec<f64>, ys: Vec<f64> },
    /// Platt scaling: p = sigmoid(a·score + b).
    Platt { a: f64, b: f64 },
}

impl Calibrator {
    /// Isotonic regression of `labels` on `scores` (weighted by `weights`, or 1 each).
    pub fn isotonic(scores: &[f64], labels: &[bool], weights: Option<&[f64]>) -> Calibrator {
        let mut idx: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i].is_finite())
            .collect();
        idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        // Blocks of (sum of w·x, sum of w·y, sum of w), merged while they violate monotonicity.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for &i in &idx {
            let w = weights.map_or(1.0, |w| w[i]);
            let y = f64::from(u8::from(labels[i]));
            blocks.push((w * scores[i], w * y, w));
            while blocks.len() > 1 {
                let n = blocks.len();
                let (a, b) = (blocks[n - 2], blocks[n - 1]);
                if a.1 / a.2 < b.1 / b.2 {
                    break;
                }
                blocks.pop();
                blocks[n - 2] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            }
        }
        Calibrator::Isotonic {
            xs: blocks.iter().map(|b| b.0 / b.2).collect(),
            ys: blocks
                .iter()
                .map(|b| (b.1 / b.2).clamp(EPS, 1.0 - EPS))
                .collect(),
        }
    }

    /// Platt scaling by Newton's method on the log-loss (with Platt's smoothed targets).
    pub fn platt(scores: &[f64], labels: &[bool]) -> Calibrator {
        let pos = labels.iter().filter(|&&l| l).count() as f64;
        let neg = labels.len() as f64 - pos;
        let (t1, t0) = ((pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0));
        let (mut a, mut b) = (1.0, 0.0);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
            for (&s, &l) in scores.iter().zip(labels) {
                let p = sigmoid(a * s + b);
                let d = p - if l { t1 } else { t0 };
                let h = p * (1.0 - p);
                ga += d * s;
                gb += d;
                haa += h * s * s;
                hab += h * s;
                hbb += h;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-12 {
                break;
            }
            let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
            a -= da;
            b -= db;
            if da.abs() + db.abs() < 1e-9 {
                break;
            }
        }
        Calibrator::Platt { a, b }
    }

    /// The probability for a score.
    pub fn apply(&self, score: f64) -> f64 {
        let p = match self {
            Calibrator::Platt { a, b } => sigmoid(a * score + b),
            Calibrator::Isotonic { xs, ys } => {
                if xs.is_empty() {
                    return 0.5;
                }
                let i = xs.partition_point(|&x| x < score);
                if i == 0 {
                    ys[0]
                } else if i == xs.len() {
                    ys[xs.len() - 1]
                } else {
                    let (x0, x1, y0, y1) = (xs[i - 1], xs[i], ys[i - 1], ys[i]);
                    y0 + (y1 - y0) * (score - x0) / (x1 - x0)
                }
            }
        };
        p.clamp(EPS, 1.0 - EPS)
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::metrics::brier;

    #[test]
    fn pool_adjacent_violators_by_hand() {
        // Labels by score: 0, 1, 0, 1, 1 → the violating pair (1, 0) pools to 0.5 at 2.5,
        // the equal pair (1, 1) to one step at 4.5.
        let c = Calibrator::isotonic(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[false, true, false, true, true],
            None,
        );
        let Calibrator::Isotonic { xs, ys } = &c else {
            panic!()
        };
        assert_eq!(xs, &[1.0, 2.5, 4.5]);
        assert_eq!(ys, &[EPS, 0.5, 1.0 - EPS]);
        // Between step centres it interpolates (3.5 is halfway from 2.5 to 4.5); beyond them it holds.
        assert!((c.apply(3.5) - 0.75).abs() < 1e-3);
        assert_eq!(c.apply(0.0), EPS);
        assert_eq!(c.apply(9.0), 1.0 - EPS);
    }

    #[test]
    fn calibration_repairs_overconfident_scores() {
        // True probability q; the model says q^0.3 (far too high for rare events).
        let n = 5000;
        let q: Vec<f64> = (0..n)
            .map(|i| 0.2 * (i as f64 / n as f64).powi(2))
            .collect();
        let labels: Vec<bool> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 < q[i])
            .collect();
        let raw: Vec<f64> = q.iter().map(|p| p.powf(0.3)).collect();
        let before = brier(&raw, &labels).unwrap();
        for c in [
            Calibrator::isotonic(&raw, &labels, None),
            Calibrator::platt(&raw, &labels),
        ] {
            let cal: Vec<f64> = raw.iter().map(|&s| c.apply(s)).collect();
            let after = brier(&cal, &labels).unwrap();
            assert!(after < 0.5 * before, "{c:?}: Brier {before} -> {after}");
            // Monotone: a higher score never gets a lower probability.
            assert!(cal.windows(2).all(|w| w[0] <= w[1] + 1e-12));
        }
    }
}
