//! A map of the book: every account placed on a plane by a 2-component PCA of the model
//! inputs (linfa-reduction), for the TUI to plot. Accounts close on the map look alike on
//! the inputs the models read.
//!
//! Inputs are standardized first (a column in dollars would otherwise be the whole map), and
//! a missing value takes its column's mean, which puts it at the centre of that axis rather
//! than dropping the account. linfa's PCA solves by LOBPCG with a fixed seed, so a map is
//! reproducible; two components of ~35 inputs is well inside the ranks where LOBPCG agrees
//! with an exact eigen-decomposition (tested below). Each axis is turned so that its largest
//! loading is positive, so the picture does not flip between runs with similar data.

use anyhow::{Result, bail};
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_reduction::Pca;
use ndarray::{Array2, Axis};
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
    if n < 3 {
        bail!("a map needs at least three accounts, got {n}");
    }
    let z = standardize(x);
    let total: f64 = z.iter().map(|v| v * v).sum::<f64>() / n as f64;
    if total == 0.0 {
        // Every input constant: every account at the origin.
        return Ok(Map {
            coords: vec![[0.0; 2]; n],
            explained: [0.0; 2],
        });
    }
    let pca = Pca::params(2).fit(&DatasetBase::from(z.view()))?;
    let mut axes = pca.components().to_owned();
    for mut axis in axes.axis_iter_mut(Axis(0)) {
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
    let proj = z.dot(&axes.t());
    let var = |c: usize| proj.column(c).iter().map(|v| v * v).sum::<f64>() / n as f64 / total;
    Ok(Map {
        coords: proj.outer_iter().map(|r| [r[0], r[1]]).collect(),
        explained: [var(0), var(1)],
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
    use linfa_linalg::eigh::{EigSort, EigValsh};
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

    /// linfa's LOBPCG PCA against an exact eigen-decomposition of the covariance.
    #[test]
    fn axes_carry_the_exact_leading_variances() {
        let x = inputs();
        let map = embed(&x).unwrap();
        let z = standardize(&x);
        let cov = z.t().dot(&z) / 600.0;
        let exact = cov.eigvalsh().unwrap().sort_eig_desc();
        let total = exact.sum();
        for (c, &share) in map.explained.iter().enumerate() {
            assert!(
                (share - exact[c] / total).abs() < 1e-6,
                "axis {c}: {share} vs exact {}",
                exact[c] / total
            );
        }
    }

    #[test]
    fn missing_values_sit_at_the_mean_and_degenerate_inputs_are_refused() {
        let mut x = inputs();
        x.row_mut(0).fill(f64::NAN);
        let map = embed(&x).unwrap();
        assert!(
            map.coords[0].iter().all(|v| v.abs() < 1e-9),
            "{:?}",
            map.coords[0]
        );
        assert!(embed(&Array2::zeros((10, 1))).is_err());
        assert!(embed(&Array2::zeros((2, 5))).is_err());
        let flat = embed(&Array2::from_elem((10, 3), 7.0)).unwrap();
        assert_eq!(flat.coords, vec![[0.0; 2]; 10]);
    }
}
