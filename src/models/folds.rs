//! Cross-fitting grouped by account: each row scored by a model that never saw its account.
//! The calibration data of both the churn and the escalation model.

use anyhow::Result;

use super::dataset::Design;

/// Fold of a row: by its group (the account), so an account's snapshots never sit on both
/// sides of a fold — its own later label would otherwise inform its score.
pub(crate) fn fold_of(group: &str, folds: usize) -> usize {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (h % folds as u64) as usize
}

/// Fit one model per fold on the other folds' rows (`fit(x, rows, their labels)`) and score the fold's rows with it
/// (`score`): the out-of-fold scores and the fold models. `stop` is asked before each fold
/// (a cancelled job ends there, not after every fold).
pub fn cross_fit<M>(
    x: &Design,
    y: &[bool],
    groups: &[String],
    folds: usize,
    fit: impl Fn(&Design, &[usize], &[bool]) -> Result<M>,
    score: impl Fn(&M, &Design) -> Result<Vec<f64>>,
    stop: &dyn Fn() -> Result<()>,
) -> Result<(Vec<f64>, Vec<M>)> {
    let fold: Vec<usize> = groups.iter().map(|g| fold_of(g, folds)).collect();
    let mut out = vec![f64::NAN; y.len()];
    let mut models = Vec::with_capacity(folds);
    for k in 0..folds {
        stop()?;
        let train: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != k).collect();
        let test: Vec<usize> = (0..y.len()).filter(|&i| fold[i] == k).collect();
        if test.is_empty() {
            continue;
        }
        let yk: Vec<bool> = train.iter().map(|&i| y[i]).collect();
        // The learner copies the rows it trains on (it may want fewer than all).
        let m = fit(x, &train, &yk)?;
        for (&i, s) in test.iter().zip(score(&m, &x.take(&test))?) {
            out[i] = s;
        }
        models.push(m);
    }
    Ok((out, models))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_ends_the_cross_fit_before_the_next_fold() {
        let x =
            Design::from_columns(vec!["a".into()], vec![(0..40).map(f64::from).collect()]).unwrap();
        let y: Vec<bool> = (0..40).map(|i| i % 3 == 0).collect();
        let groups: Vec<String> = (0..40).map(|i| format!("A-{i}")).collect();
        let fits = std::cell::Cell::new(0);
        let asked = std::cell::Cell::new(0);
        let stop = || {
            asked.set(asked.get() + 1);
            if asked.get() > 1 {
                anyhow::bail!("cancelled")
            }
            Ok(())
        };
        let fit = |_: &Design, _: &[usize], _: &[bool]| {
            fits.set(fits.get() + 1);
            Ok(())
        };
        let score = |_: &(), x: &Design| Ok(vec![0.5; x.rows()]);
        let e = cross_fit(&x, &y, &groups, 3, fit, score, &stop).unwrap_err();
        assert_eq!(e.to_string(), "cancelled");
        assert_eq!(fits.get(), 1, "one fold fitted, then stopped");
        let never = || Ok(());
        let (oof, models) = cross_fit(&x, &y, &groups, 3, fit, score, &never).unwrap();
        assert_eq!((models.len(), oof.len()), (3, 40));
    }

    #[test]
    fn folds_are_stable_and_spread() {
        assert_eq!(fold_of("A-1", 3), fold_of("A-1", 3));
        let counts = (0..3000).fold([0usize; 3], |mut c, i| {
            c[fold_of(&format!("ACC-{i}"), 3)] += 1;
            c
        });
        assert!(counts.iter().all(|&n| n > 900), "{counts:?}");
    }
}
