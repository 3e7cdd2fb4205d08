//! A map of the book: every account placed on a plane by a 2-component PCA of the model
//! inputs, for the TUI to plot. Accounts close on the map look alike on the inputs the
//! models read.
//!
//! Inputs are standardized first (a column in dollars would otherwise be the whole map), and
//! a missing value takes its column's mean, which puts it at the centre of that axis rather
//! than dropping the account. The axes come from the exact eigen-decomposition of the p × p
//! correlation matrix (p ≈ 37 inputs, one pass over the rows), not from linfa-reduction's
//! `Pca`: its LOBPCG solver panicked ("NaN values in array") on the standardized inputs of a
//! simulated 100,000-account book, at 60,000, 75,000 and 78,720 rows too, while it agrees
//! with this to 1e-9 where it runs (tested below). Each axis is turned so that its largest
//! loading is positive, so the picture does not flip between runs with similar data.

use anyhow::{Result, bail};
use linfa_linalg::eigh::{EigSort, EighInto};
use ndarray::{Array2, Axis, s};
use polars::prelude::*;

use crate::features::GoldenRecord;
use crate::features::dictionary::{FEATURES, Kind};

/// Account positions and how much of the inputs' variance each axis shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// One point per input row, in row order.
    pub coords: Vec<[f64; 2]>,
    /// Share of the standardized inputs' total variance along each axis (the first is the
    /// larger); their sum says how faithful the flat picture is.
    pub explained: [f64; 2],
}

/// Standardize the columns of `x` (rows = accounts), filling non-finite values with the
/// column mean, and project on the first two principal components.
pub fn embed(x: &Array2<f64>) -> Result<Map> {
    let (n, p) = x.dim();
    if p < 2 {
        bail!("a map needs at least two input columns, got {p}");
    }
    let z = standardize(x);
    if z.iter().any(|v| !v.is_finite()) {
        bail!("map inputs too large to standardize");
    }
    let cov = z.t().dot(&z) / n.max(1) as f64;
    let total: f64 = cov.diag().sum();
    if total == 0.0 {
        // No rows or every input constant: every account at the origin.
        return Ok(Map {
            coords: vec![[0.0; 2]; n],
            explained: [0.0; 2],
        });
    }
    let (vals, vecs) = cov.eigh_into()?.sort_eig_desc();
    let mut axes = vecs.slice(s![.., ..2]).to_owned();
    for mut axis in axes.axis_iter_mut(Axis(1)) {
        let big = axis
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        if big < 0.0 {
            axis.mapv_inplace(|v| -v);
        }
    }
    // z is centred already: the projection needs no mean.
    let proj = z.dot(&axes);
    Ok(Map {
        coords: proj.outer_iter().map(|r| [r[0], r[1]]).collect(),
        explained: [vals[0].max(0.0) / total, vals[1].max(0.0) / total],
    })
}

/// Columns scaled to mean 0 and standard deviation 1 after non-finite values take the mean
/// of the finite ones; constant (or empty) columns become 0.
fn standardize(x: &Array2<f64>) -> Array2<f64> {
    let mut z = x.to_owned();
    for mut col in z.axis_iter_mut(Axis(1)) {
        let (sum, cnt) = col
            .iter()
            .filter(|v| v.is_finite())
            .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
        let mean = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
        col.mapv_inplace(|v| if v.is_finite() { v - mean } else { 0.0 });
        let sd = (col.iter().map(|v| v * v).sum::<f64>() / col.len() as f64).sqrt();
        if sd > 1e-12 * (1.0 + mean.abs()) {
            col.mapv_inplace(|v| v / sd);
        } else {
            col.fill(0.0);
        }
    }
    z
}

/// The golden record's numeric features (every dictionary feature that is a number or a
/// flag, in dictionary order) as a matrix with NaN for missing values, and their names.
pub fn record_inputs(record: &GoldenRecord) -> Result<(Vec<&'static str>, Array2<f64>)> {
    let names: Vec<&'static str> = FEATURES
        .iter()
        .filter(|f| f.kind != Kind::Text)
        .map(|f| f.name)
        .collect();
    let n = record.frame.height();
    let mut x = Array2::from_elem((n, names.len()), f64::NAN);
    for (j, name) in names.iter().enumerate() {
        let col = record.frame.column(name)?.cast(&DataType::Float64)?;
        for (i, v) in col.f64()?.iter().enumerate() {
            if let Some(v) = v {
                x[[i, j]] = v;
            }
        }
    }
    Ok((names, x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::DatasetBase;
    use linfa::traits::{Fit, Predict};
    use linfa_linalg::svd::{SVD, SvdSort};
    use linfa_reduction::Pca;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// 600 accounts, 12 inputs driven by two hidden factors plus noise, on wildly different
    /// scales, some values missing.
    fn inputs() -> Array2<f64> {
        let mut r = ChaCha8Rng::seed_from_u64(5);
        let mut x = Array2::zeros((600, 12));
        for i in 0..600 {
            let (a, b): (f64, f64) = (r.random_range(-2.0..2.0), r.random_range(-1.0..1.0));
            for j in 0..12 {
                let load = if j < 6 { a } else { b * (j as f64 - 5.0) / 3.0 };
                let scale = 10f64.powi(j as i32 % 4);
                x[[i, j]] = scale * (load + 0.3 * r.random_range(-1.0..1.0));
                if r.random_bool(0.03) {
                    x[[i, j]] = f64::NAN;
                }
            }
        }
        x
    }

    #[test]
    fn two_coordinates_per_row_first_axis_explains_most() {
        let x = inputs();
        let map = embed(&x).unwrap();
        assert_eq!(map.coords.len(), 600);
        assert!(map.coords.iter().flatten().all(|v| v.is_finite()));
        let [a, b] = map.explained;
        assert!(a >= b && b > 0.0 && a + b <= 1.0 + 1e-12, "{a} {b}");
        // Deterministic.
        assert_eq!(embed(&x).unwrap(), map);
    }

    /// The axes' variances against the exact SVD of the standardized inputs, and the points
    /// against linfa-reduction's PCA (up to the sign of each axis).
    #[test]
    fn axes_match_an_exact_svd_and_linfa_pca() {
        let x = inputs();
        let map = embed(&x).unwrap();
        let z = standardize(&x);
        let (_, sv, _) = z.svd(false, false).unwrap().sort_svd_desc();
        let total: f64 = sv.iter().map(|s| s * s).sum();
        for (c, &share) in map.explained.iter().enumerate() {
            let exact = sv[c] * sv[c] / total;
            assert!(
                (share - exact).abs() < 1e-12,
                "axis {c}: {share} vs {exact}"
            );
        }
        let pca = Pca::params(2).fit(&DatasetBase::from(z.clone())).unwrap();
        let theirs = pca.predict(&z);
        for c in 0..2 {
            let sign = if theirs[[0, c]] * map.coords[0][c] < 0.0 {
                -1.0
            } else {
                1.0
            };
            for (i, p) in map.coords.iter().enumerate() {
                assert!(
                    (p[c] - sign * theirs[[i, c]]).abs() < 1e-9,
                    "row {i} axis {c}"
                );
            }
        }
    }

    #[test]
    fn missing_values_sit_at_the_mean_and_degenerate_inputs_are_handled() {
        let mut x = inputs();
        x.row_mut(0).fill(f64::NAN);
        let map = embed(&x).unwrap();
        assert!(
            map.coords[0].iter().all(|v| v.abs() < 1e-9),
            "{:?}",
            map.coords[0]
        );
        assert!(embed(&Array2::zeros((10, 1))).is_err());
        // Overflowing inputs: an error or finite points, never a panic or NaN.
        let huge = Array2::from_shape_fn((4, 3), |(i, j)| match (i + j) % 3 {
            0 => f64::MAX,
            1 => -f64::MAX,
            _ => 1.0,
        });
        assert!(embed(&huge).map_or(true, |m| m.coords.iter().flatten().all(|v| v.is_finite())));
        assert!(embed(&Array2::zeros((0, 5))).unwrap().coords.is_empty());
        let flat = embed(&Array2::from_elem((10, 3), 7.0)).unwrap();
        assert_eq!(flat.coords, vec![[0.0; 2]; 10]);
    }
}
