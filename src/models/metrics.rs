//! Ranking and calibration metrics for binary outcomes.

/// Average precision (the step-wise area under the precision–recall curve).
/// Ties are broken pessimistically: positives rank after negatives of the same score.
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || scores.len() != labels.len() {
        return None;
    }
    let order = ranked(scores, labels);
    let (mut tp, mut sum) = (0usize, 0.0);
    for (i, &k) in order.iter().enumerate() {
        if labels[k] {
            tp += 1;
            sum += tp as f64 / (i + 1) as f64;
        }
    }
    Some(sum / positives as f64)
}

/// Area under the ROC curve (Mann–Whitney, ties counted half).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n1 = labels.iter().filter(|&&l| l).count();
    let n0 = labels.len() - n1;
    if n1 == 0 || n0 == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks over ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg * idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    Some((rank_sum - (n1 * (n1 + 1)) as f64 / 2.0) / (n1 as f64 * n0 as f64))
}

/// Mean squared error of probabilities against outcomes.
pub fn brier(probs: &[f64], labels: &[bool]) -> Option<f64> {
    if probs.is_empty() || probs.len() != labels.len() {
        return None;
    }
    Some(
        probs
            .iter()
            .zip(labels)
            .map(|(p, &l)| (p - l as u8 as f64).powi(2))
            .sum::<f64>()
            / probs.len() as f64,
    )
}

/// Precision among the `k` highest scores.
pub fn precision_at_k(scores: &[f64], labels: &[bool], k: usize) -> Option<f64> {
    if k == 0 || scores.len() != labels.len() || k > scores.len() {
        return None;
    }
    let order = ranked(scores, labels);
    Some(order[..k].iter().filter(|&&i| labels[i]).count() as f64 / k as f64)
}

/// Indices by descending score; among equal scores, negatives first (pessimistic).
fn ranked(scores: &[f64], labels: &[bool]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then(labels[a].cmp(&labels[b]))
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let s = [0.9, 0.8, 0.7, 0.6, 0.5];
        let l = [true, false, true, false, false];
        // AP = (1/1 + 2/3) / 2
        assert!((pr_auc(&s, &l).unwrap() - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // 5 of 6 positive–negative pairs are ordered right.
        assert!((roc_auc(&s, &l).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(precision_at_k(&s, &l, 2), Some(0.5));
        let b = brier(&[1.0, 0.0, 0.5], &[true, false, true]).unwrap();
        assert!((b - 0.25 / 3.0).abs() < 1e-12);
        assert_eq!(pr_auc(&s, &[false; 5]), None);
        // A constant score is worth the base rate, not more.
        let flat = [0.3; 4];
        assert_eq!(roc_auc(&flat, &[true, false, true, false]), Some(0.5));
        assert!((pr_auc(&flat, &[true, false, false, false]).unwrap() - 0.25).abs() < 1e-12);
    }
}
