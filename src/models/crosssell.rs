//! Cross-sell: collaborative filtering on the account × product-feature adoption matrix.
//!
//! The matrix is log(1 + usage events) per account and feature over a [`FeatureUsage`]
//! window (90 days by default). A truncated SVD of the rows it is fitted on (the active
//! accounts) keeps the few adoption patterns that recur across the book. An account's row
//! projected on them and reconstructed scores the features it does not use yet by how much
//! accounts with its pattern use them; lookalikes are its nearest accounts in that latent
//! space. The hybrid score blends the best CF affinity with the golden record's rules.
//!
//! The SVD is exact: the eigen-decomposition of the p × p Gram matrix XᵀX (p ≈ 40 features,
//! one pass over the rows) gives V and Σ, and U = X V Σ⁻¹. linfa-linalg's LOBPCG
//! `TruncatedSvd` returned singular values 6–27 % off while returning Ok at ranks above
//! min(n, p)/5, and linfa-reduction's `Pca` centres the data, which is not the model.
//! Squaring the matrix squares its condition number, but only the leading singular values
//! are kept: their relative error stays near machine precision (tested against an exact
//! SVD below).
//!
//! Models take data, not connections; what is fitted here is stored by the caller in
//! tables keyed by run, never as golden-record columns.

mod knn;

use std::collections::HashMap;

use anyhow::{Result, bail};
use chrono::NaiveDate;
use linfa_linalg::eigh::{EigSort, EighInto};
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::features::GoldenRecord;
use crate::features::per_feature::FeatureUsage;

/// Rank by default, fixed rather than chosen per run: the held-out hit-rate of simulated
/// books peaks at 4 among [`RANKS`] ([`choose_rank`]; 5,000 accounts, three hidings each of
/// two worlds: 0.59–0.61 at 4, 0.36–0.38 at 2, 0.58–0.60 at 6, 0.57–0.59 at 8), as many
/// patterns as the simulator has adoption clusters.
pub const DEFAULT_RANK: usize = 4;
/// Ranks [`choose_rank`] compares.
pub const RANKS: [usize; 4] = [2, 4, 6, 8];

/// Hybrid score weights (they sum to 1, so the score stays in 0–1). CF says *what* to sell
/// and how strongly accounts like this one use it; it gets the largest share. Readiness is
/// the rule score that already sums growth, device gap, seat utilization, engagement and
/// support into steps, so it carries most of the rules' weight; growth and device gap come
/// again as continuous terms to rank accounts within a readiness step; tier headroom says
/// whether a bigger plan exists to sell.
pub const W_AFFINITY: f64 = 0.4;
pub const W_READINESS: f64 = 0.3;
pub const W_GROWTH: f64 = 0.1;
pub const W_DEVICE_GAP: f64 = 0.1;
pub const W_TIER: f64 = 0.1;
/// Monthly headcount growth that earns the whole growth term (the readiness rule's top step
/// starts at 2 %; 5 % a month is exceptional).
const GROWTH_FULL: f64 = 0.05;
/// Unlicensed devices, as a share of seats, that earn the whole device-gap term (the
/// readiness rule counts a gap from 20 %).
const DEVICE_GAP_FULL: f64 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Latent patterns kept (capped at the number of features and fitted rows).
    pub rank: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { rank: DEFAULT_RANK }
    }
}

/// The leading singular triplets of X: X ≈ U diag(s) Vᵀ.
#[derive(Debug, Clone)]
pub struct Svd {
    /// n × r, orthonormal columns (zero where a singular value is zero).
    pub u: Array2<f64>,
    /// r singular values, descending.
    pub s: Array1<f64>,
    /// p × r, orthonormal columns; each column's largest entry is positive (stable signs).
    pub v: Array2<f64>,
}

/// The `rank` leading singular triplets of `x`, exactly (see the module notes).
pub fn truncated_svd(x: ArrayView2<f64>, rank: usize) -> Result<Svd> {
    let (s, v) = right_factors(x, rank)?;
    let mut u = x.dot(&v);
    for (mut col, &sv) in u.axis_iter_mut(Axis(1)).zip(s.iter()) {
        if sv > 0.0 {
            col /= sv;
        } else {
            col.fill(0.0);
        }
    }
    Ok(Svd { u, s, v })
}

/// Σ and V of the `rank` leading singular values of `x`, from the eigen-decomposition of XᵀX.
fn right_factors(x: ArrayView2<f64>, rank: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let p = x.ncols();
    if p == 0 {
        bail!("an SVD needs at least one column");
    }
    if x.iter().any(|v| !v.is_finite()) {
        bail!("an SVD needs finite values");
    }
    let rank = rank.min(p).min(x.nrows());
    let gram = x.t().dot(&x);
    let (vals, vecs) = gram.eigh_into()?.sort_eig_desc();
    // Eigenvalues of XᵀX carry an absolute error near ε·λ₁: below that they are zero.
    let floor = vals[0].max(0.0) * p as f64 * f64::EPSILON;
    let s = vals
        .slice(s![..rank])
        .mapv(|l| if l > floor { l.sqrt() } else { 0.0 });
    let mut v = vecs.slice(s![.., ..rank]).to_owned();
    for mut col in v.axis_iter_mut(Axis(1)) {
        let big = col
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        if big < 0.0 {
            col.mapv_inplace(|c| -c);
        }
    }
    Ok((s, v))
}

/// A feature to offer an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub feature: String,
    /// The feature's reconstructed usage ÷ the largest reconstructed usage in the account's
    /// own profile, in 0–1: 1 means accounts with this pattern use it as heavily as the
    /// account's strongest feature, 0.5 half as heavily (on the log scale).
    pub affinity: f64,
}

/// What became of an account, from the golden record (see [`Outcomes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `lifecycle_status` is churned (no active subscription left).
    Churned,
    /// Still active and MRR grew over the last 90 days (`mrr_change_90d` > 0: an upgrade or
    /// seats added).
    Expanded,
    /// Still active and MRR fell over the last 90 days.
    Contracted,
    /// Anything else.
    Steady,
}

impl Outcome {
    /// In words, for evidence: "expanded", "churned", ...
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Churned => "churned",
            Outcome::Expanded => "expanded",
            Outcome::Contracted => "contracted",
            Outcome::Steady => "steady",
        }
    }
}

/// A similar account.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookalike {
    pub account_id: String,
    /// Cosine similarity of the two accounts' latent profiles (equivalently of their
    /// reconstructed adoption rows), in −1–1.
    pub similarity: f64,
    /// Features it uses that the account does not, in column order.
    pub adopted: Vec<String>,
    /// Set by [`Outcomes::annotate`]; `None` until then or when the record lacks the account.
    pub outcome: Option<Outcome>,
}

/// Hit-rate@3 of hidden adoptions (see [`evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitRate {
    pub model: f64,
    pub popularity: f64,
    /// Accounts with one adoption hidden.
    pub accounts: usize,
}

/// A fitted cross-sell model over every row of a [`FeatureUsage`]: the SVD is fitted on the
/// chosen rows, and every row (churned accounts too) is projected on it.
#[derive(Debug, Clone)]
pub struct CrossSell {
    pub as_of: NaiveDate,
    /// Rows, sorted (as in the usage matrix).
    pub account_ids: Vec<String>,
    pub features: Vec<String>,
    /// Rank kept (the requested one, capped by features and fitted rows).
    pub rank: usize,
    pub singular_values: Vec<f64>,
    /// Rows the SVD was fitted on.
    pub fitted_rows: usize,
    /// p × r right singular vectors.
    v: Array2<f64>,
    /// n × r latent coordinates X V.
    z: Array2<f64>,
    /// n × r latent coordinates scaled to unit length (zero rows stay zero), row-major.
    unit: Vec<f64>,
    /// Rows with a non-zero latent profile: the lookalike candidates.
    profiled: Vec<u32>,
    /// n × p: the account used the feature in the window.
    used: Vec<bool>,
}

/// Fit on the rows where `rows` is true (all rows when `None`); pass [`active_rows`] so
/// churned and never-subscribed accounts do not shape the patterns.
pub fn fit(usage: &FeatureUsage, rows: Option<&[bool]>, params: &Params) -> Result<CrossSell> {
    fit_counts(usage, &usage.counts, rows, params)
}

fn fit_counts(
    usage: &FeatureUsage,
    counts: &[f64],
    rows: Option<&[bool]>,
    params: &Params,
) -> Result<CrossSell> {
    let (n, p) = (usage.account_ids.len(), usage.n_features());
    if p == 0 {
        bail!("no product feature was used in the window: nothing to recommend");
    }
    if counts.len() != n * p {
        bail!("usage matrix of {} cells for {n} × {p}", counts.len());
    }
    if let Some(m) = rows
        && m.len() != n
    {
        bail!("row mask of {} for {n} accounts", m.len());
    }
    if params.rank == 0 {
        bail!("the cross-sell rank must be at least 1");
    }
    let fit_on: Vec<usize> = (0..n).filter(|&r| rows.is_none_or(|m| m[r])).collect();
    if fit_on.is_empty() {
        bail!("no account to fit the cross-sell model on");
    }
    let x = Array2::from_shape_vec((n, p), counts.iter().map(|c| c.max(0.0).ln_1p()).collect())?;
    let (s, v) = if fit_on.len() == n {
        right_factors(x.view(), params.rank)?
    } else {
        right_factors(x.select(Axis(0), &fit_on).view(), params.rank)?
    };
    let rank = s.len();
    let z = x.dot(&v);
    let mut unit = vec![0.0; n * rank];
    let mut profiled = Vec::new();
    for (r, row) in z.outer_iter().enumerate() {
        let norm = row.dot(&row).sqrt();
        // Below this the row is zero up to rounding: no usage, no direction.
        if norm > 1e-12 {
            for (u, z) in unit[r * rank..(r + 1) * rank].iter_mut().zip(row) {
                *u = z / norm;
            }
            profiled.push(r as u32);
        }
    }
    Ok(CrossSell {
        as_of: usage.as_of,
        account_ids: usage.account_ids.clone(),
        features: usage.features.clone(),
        rank,
        singular_values: s.to_vec(),
        fitted_rows: fit_on.len(),
        v,
        used: counts.iter().map(|&c| c > 0.0).collect(),
        z,
        unit,
        profiled,
    })
}

impl CrossSell {
    pub fn row_of(&self, account_id: &str) -> Option<usize> {
        self.account_ids
            .binary_search_by(|a| a.as_str().cmp(account_id))
            .ok()
    }

    fn used_row(&self, row: usize) -> &[bool] {
        let p = self.features.len();
        &self.used[row * p..(row + 1) * p]
    }

    /// The account's row reconstructed from the kept patterns (log(1 + usage) scale).
    fn reconstructed(&self, row: usize) -> Array1<f64> {
        self.v.dot(&self.z.row(row))
    }

    /// Unused features of `row` by descending reconstructed score (ties: column order).
    fn ranked_unused(&self, row: usize) -> (Array1<f64>, Vec<usize>) {
        let scores = self.reconstructed(row);
        let used = self.used_row(row);
        let mut cand: Vec<usize> = (0..scores.len()).filter(|&f| !used[f]).collect();
        cand.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        (scores, cand)
    }

    /// Up to `k` features the account does not use yet, best first; only features that
    /// accounts like it actually use (a positive reconstructed score). Empty for an unknown
    /// account or one without usage in the window (no pattern to go on).
    pub fn recommend(&self, account_id: &str, k: usize) -> Vec<Recommendation> {
        self.row_of(account_id)
            .map_or_else(Vec::new, |r| self.recommend_row(r, k))
    }

    /// [`recommend`](Self::recommend) by row of [`account_ids`](Self::account_ids).
    pub fn recommend_row(&self, row: usize, k: usize) -> Vec<Recommendation> {
        let (scores, cand) = self.ranked_unused(row);
        let best = scores.iter().copied().fold(0.0, f64::max);
        cand.into_iter()
            .take(k)
            .filter(|&f| scores[f] > 0.0)
            .map(|f| Recommendation {
                feature: self.features[f].clone(),
                affinity: (scores[f] / best).clamp(0.0, 1.0),
            })
            .collect()
    }

    /// The affinity of the row's first recommendation (0 without one), without building it.
    fn best_affinity(&self, row: usize) -> f64 {
        let scores = self.reconstructed(row);
        let used = self.used_row(row);
        let best = scores.iter().copied().fold(0.0, f64::max);
        let top = scores
            .iter()
            .zip(used)
            .filter(|(_, u)| !**u)
            .map(|(s, _)| *s)
            .fold(0.0, f64::max);
        if top > 0.0 {
            (top / best).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The `k` accounts nearest to `account_id` in the latent space (cosine), most similar
    /// first, never the account itself; ties go to the earlier account id. Candidates are every
    /// account with usage in the window, churned ones included, so the caller can show what
    /// became of them ([`Outcomes`]). Empty for an unknown account or one without usage.
    pub fn lookalikes(&self, account_id: &str, k: usize) -> Vec<Lookalike> {
        let Some(row) = self.row_of(account_id) else {
            return Vec::new();
        };
        let Some(q) = self.unit_row(row) else {
            return Vec::new();
        };
        let near = knn::brute(
            &self.unit,
            self.rank,
            &self.profiled,
            q,
            k,
            Some(row as u32),
        );
        self.describe(row, near)
    }

    /// [`lookalikes`](Self::lookalikes) of every row at once (a k-d tree; the same answers),
    /// in the order of [`account_ids`](Self::account_ids).
    pub fn lookalikes_all(&self, k: usize) -> Vec<Vec<Lookalike>> {
        let tree = knn::Tree::new(&self.unit, self.rank, self.profiled.clone());
        (0..self.account_ids.len())
            .map(|row| match self.unit_row(row) {
                Some(q) => self.describe(row, tree.nearest(q, k, Some(row as u32))),
                None => Vec::new(),
            })
            .collect()
    }

    fn unit_row(&self, row: usize) -> Option<&[f64]> {
        let q = &self.unit[row * self.rank..(row + 1) * self.rank];
        q.iter().any(|&x| x != 0.0).then_some(q)
    }

    fn describe(&self, row: usize, near: Vec<knn::Near>) -> Vec<Lookalike> {
        let mine = self.used_row(row);
        near.into_iter()
            .map(|n| {
                let theirs = self.used_row(n.row as usize);
                Lookalike {
                    account_id: self.account_ids[n.row as usize].clone(),
                    // Unit vectors: cos = 1 − |a − b|² / 2.
                    similarity: (1.0 - n.d2 / 2.0).clamp(-1.0, 1.0),
                    adopted: (0..mine.len())
                        .filter(|&f| theirs[f] && !mine[f])
                        .map(|f| self.features[f].clone())
                        .collect(),
                    outcome: None,
                }
            })
            .collect()
    }

    /// Per active account of `record` (in its order), a 0–1 cross-sell score: the best CF
    /// affinity blended with readiness, growth, device gap and tier headroom (weights
    /// `W_*`). Accounts absent from the usage matrix or without usage get no CF part.
    /// Missing rule inputs (no account signals) count as no evidence: 0.
    pub fn hybrid_scores(&self, record: &GoldenRecord) -> Result<Vec<(String, f64)>> {
        let f = &record.frame;
        let ids = f.column("account_id")?.str()?;
        let status = f.column("lifecycle_status")?.str()?;
        let tier = f.column("plan_tier")?.str()?;
        let readiness = floats(f, "crosssell_readiness_score")?;
        let growth = floats(f, "growth_rate_mom")?;
        let gap = floats(f, "device_gap")?;
        let seats = floats(f, "seats")?;
        let mut out = Vec::new();
        for (i, (id, st)) in ids.iter().zip(status.iter()).enumerate() {
            let (Some(id), Some("active")) = (id, st) else {
                continue;
            };
            let affinity = self.row_of(id).map_or(0.0, |r| self.best_affinity(r));
            let t = RuleTerms::of(readiness[i], growth[i], gap[i], seats[i], tier.get(i));
            let score = W_AFFINITY * affinity
                + W_READINESS * t.readiness
                + W_GROWTH * t.growth.unwrap_or(0.0)
                + W_DEVICE_GAP * t.device_gap.unwrap_or(0.0)
                + W_TIER * t.tier_headroom;
            out.push((id.to_string(), score.clamp(0.0, 1.0)));
        }
        Ok(out)
    }
}

/// The business-rule terms of the hybrid score, each 0–1 (`None`: no data, e.g. no
/// account signals). The exports show them as the original's boost columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleTerms {
    /// Cross-sell readiness score / 100.
    pub readiness: f64,
    /// Month-over-month headcount growth, full at 5 %.
    pub growth: Option<f64>,
    /// Unmanaged devices per seat, full at 0.5.
    pub device_gap: Option<f64>,
    /// Room to a bigger plan: Basic 1, Pro 0.5, Enterprise 0.
    pub tier_headroom: f64,
}

impl RuleTerms {
    pub fn of(
        readiness: Option<f64>,
        growth: Option<f64>,
        device_gap: Option<f64>,
        seats: Option<f64>,
        tier: Option<&str>,
    ) -> RuleTerms {
        RuleTerms {
            readiness: unit(readiness.map_or(0.0, |r| r / 100.0)),
            growth: growth.map(|g| unit(g / GROWTH_FULL)),
            device_gap: match (device_gap, seats) {
                (Some(g), Some(s)) => Some(unit(g / s.max(1.0) / DEVICE_GAP_FULL)),
                _ => None,
            },
            tier_headroom: tier_headroom(tier),
        }
    }
}

fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// Room to a bigger plan: Basic has two tiers above it, Pro one, Enterprise none.
fn tier_headroom(tier: Option<&str>) -> f64 {
    match tier {
        Some("Basic") => 1.0,
        Some("Pro") => 0.5,
        Some("Enterprise") => 0.0,
        // An unknown tier: no evidence either way.
        _ => 0.5,
    }
}

fn floats(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect())
}

/// Rows of `usage` whose account is active in `record` (`lifecycle_status` = active): the
/// mask to fit on.
pub fn active_rows(usage: &FeatureUsage, record: &GoldenRecord) -> Result<Vec<bool>> {
    let ids = record.frame.column("account_id")?.str()?;
    let status = record.frame.column("lifecycle_status")?.str()?;
    let mut mask = vec![false; usage.account_ids.len()];
    for (id, st) in ids.iter().zip(status.iter()) {
        if let (Some(id), Some("active")) = (id, st)
            && let Some(r) = usage.row_of(id)
        {
            mask[r] = true;
        }
    }
    Ok(mask)
}

/// What became of each account of a golden record, to annotate lookalikes.
#[derive(Debug, Clone, Default)]
pub struct Outcomes(HashMap<String, Outcome>);

impl Outcomes {
    pub fn from_record(record: &GoldenRecord) -> Result<Self> {
        let f = &record.frame;
        let ids = f.column("account_id")?.str()?;
        let status = f.column("lifecycle_status")?.str()?;
        let change = floats(f, "mrr_change_90d")?;
        let mut map = HashMap::with_capacity(f.height());
        for (i, (id, st)) in ids.iter().zip(status.iter()).enumerate() {
            let Some(id) = id else { continue };
            let outcome = match (st, change[i]) {
                (Some("churned"), _) => Outcome::Churned,
                (_, Some(c)) if c > 0.0 => Outcome::Expanded,
                (_, Some(c)) if c < 0.0 => Outcome::Contracted,
                _ => Outcome::Steady,
            };
            map.insert(id.to_string(), outcome);
        }
        Ok(Outcomes(map))
    }

    pub fn of(&self, account_id: &str) -> Option<Outcome> {
        self.0.get(account_id).copied()
    }

    /// Fill in each lookalike's outcome.
    pub fn annotate(&self, lookalikes: &mut [Lookalike]) {
        for l in lookalikes {
            l.outcome = self.of(&l.account_id);
        }
    }
}

/// Hit-rate@3 by hiding known adoptions. Among the fitted rows that use two features or
/// more, one used feature per account (drawn with `seed`) is zeroed; the model is fitted on
/// the masked matrix; a hit is the hidden feature among the account's top 3 unused
/// features, by reconstructed score for the model and by the number of fitted accounts
/// using it (in the masked matrix) for the popularity baseline.
pub fn evaluate(
    usage: &FeatureUsage,
    rows: Option<&[bool]>,
    params: &Params,
    seed: u64,
) -> Result<HitRate> {
    const K: usize = 3;
    let (n, p) = (usage.account_ids.len(), usage.n_features());
    let mut counts = usage.counts.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    for r in 0..n {
        if rows.is_some_and(|m| m.get(r) != Some(&true)) {
            continue;
        }
        let used: Vec<usize> = (0..p).filter(|&f| counts[r * p + f] > 0.0).collect();
        if used.len() >= 2 {
            let f = used[rng.random_range(0..used.len())];
            counts[r * p + f] = 0.0;
            hidden.push((r, f));
        }
    }
    if hidden.is_empty() {
        bail!("no account uses two features or more: nothing to hide");
    }
    let model = fit_counts(usage, &counts, rows, params)?;
    let mut popular = vec![0usize; p];
    for r in (0..n).filter(|&r| rows.is_none_or(|m| m[r])) {
        for (f, c) in popular.iter_mut().enumerate() {
            *c += usize::from(counts[r * p + f] > 0.0);
        }
    }
    let mut by_popularity: Vec<usize> = (0..p).collect();
    by_popularity.sort_by(|&a, &b| popular[b].cmp(&popular[a]).then(a.cmp(&b)));
    let (mut hits, mut pop_hits) = (0usize, 0usize);
    for &(r, f) in &hidden {
        let (_, ranked) = model.ranked_unused(r);
        hits += usize::from(ranked.iter().take(K).any(|&g| g == f));
        let used = model.used_row(r);
        pop_hits += usize::from(
            by_popularity
                .iter()
                .filter(|&&g| !used[g])
                .take(K)
                .any(|&g| g == f),
        );
    }
    let total = hidden.len() as f64;
    Ok(HitRate {
        model: hits as f64 / total,
        popularity: pop_hits as f64 / total,
        accounts: hidden.len(),
    })
}

/// A rank chosen on hidden adoptions, and how it does on others.
#[derive(Debug, Clone, PartialEq)]
pub struct RankChoice {
    /// The best of [`RANKS`] on the hiding of `seed` (the smaller one on a tie).
    pub rank: usize,
    /// Every rank's hit-rate on that hiding.
    pub rates: Vec<(usize, HitRate)>,
    /// The chosen rank on another hiding (seed + 1): what it is worth, since the best of
    /// four rates measured on one hiding is flattered by that hiding's luck.
    pub held_out: HitRate,
}

/// Choose the rank on one hiding of adoptions and report it on another.
pub fn choose_rank(usage: &FeatureUsage, rows: Option<&[bool]>, seed: u64) -> Result<RankChoice> {
    let mut rates = Vec::new();
    for rank in RANKS {
        rates.push((rank, evaluate(usage, rows, &Params { rank }, seed)?));
    }
    let rank = rates
        .iter()
        .fold(None::<&(usize, HitRate)>, |b, c| match b {
            Some(b) if b.1.model >= c.1.model => Some(b),
            _ => Some(c),
        })
        .map_or(DEFAULT_RANK, |b| b.0);
    let held_out = evaluate(usage, rows, &Params { rank }, seed.wrapping_add(1))?;
    Ok(RankChoice {
        rank,
        rates,
        held_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa_linalg::svd::{SVD, SvdSort};

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// Orthonormal columns by Gram–Schmidt (twice, for accuracy) of a random matrix.
    fn orthonormal(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut r = rng(seed);
        let mut q: Array2<f64> = Array2::from_shape_fn((rows, cols), |_| r.random_range(-1.0..1.0));
        for j in 0..cols {
            for _ in 0..2 {
                for i in 0..j {
                    let proj = q.column(i).dot(&q.column(j));
                    let qi = q.column(i).to_owned();
                    q.column_mut(j).scaled_add(-proj, &qi);
                }
            }
            let norm = q.column(j).dot(&q.column(j)).sqrt();
            q.column_mut(j).mapv_inplace(|x| x / norm);
        }
        q
    }

    fn frobenius2(a: &Array2<f64>) -> f64 {
        a.iter().map(|x| x * x).sum()
    }

    #[test]
    fn svd_recovers_known_factors() {
        let sigma = [50.0, 20.0, 9.0, 3.0, 1.0, 0.1];
        let u = orthonormal(200, 6, 1);
        let v = orthonormal(12, 6, 2);
        let x = u
            .dot(&Array2::from_diag(&Array1::from(sigma.to_vec())))
            .dot(&v.t());
        for rank in 1..=8 {
            let svd = truncated_svd(x.view(), rank).unwrap();
            let r = rank.min(6);
            for (i, &want) in sigma.iter().enumerate().take(r) {
                assert!(
                    (svd.s[i] - want).abs() <= 1e-9 * want,
                    "rank {rank}: σ{i} = {} vs {want}",
                    svd.s[i]
                );
                // The same singular vectors up to sign.
                let cv = svd.v.column(i).dot(&v.column(i)).abs();
                let cu = svd.u.column(i).dot(&u.column(i)).abs();
                assert!(
                    (cv - 1.0).abs() < 1e-9 && (cu - 1.0).abs() < 1e-9,
                    "{cv} {cu}"
                );
            }
            // Past the true rank: zero singular values and zero left vectors.
            for i in r..svd.s.len() {
                assert_eq!(svd.s[i], 0.0);
                assert!(svd.u.column(i).iter().all(|&x| x == 0.0));
            }
        }
        let mut bad = x.clone();
        bad[[3, 4]] = f64::NAN;
        assert!(truncated_svd(bad.view(), 2).is_err());
        let full = truncated_svd(x.view(), 6).unwrap();
        let back = full.u.dot(&Array2::from_diag(&full.s)).dot(&full.v.t());
        assert!(frobenius2(&(&back - &x)) < 1e-20 * frobenius2(&x));
    }

    /// Against linfa-linalg's exact (bidiagonal) SVD at every rank, on a dense random matrix
    /// and a sparse usage-like one of the 500 × 40: the same singular values, and the
    /// reconstruction error equal to the Eckart–Young bound Σ_{i>r} σᵢ².
    #[test]
    fn svd_matches_an_exact_svd_at_every_rank() {
        let mut r = rng(7);
        let dense = Array2::from_shape_fn((500, 40), |_| r.random_range(0.0..1.0));
        let sparse = Array2::from_shape_fn((500, 40), |(i, j)| {
            if (i + 3 * j) % 5 == 0 || r.random_bool(0.1) {
                (r.random_range(1.0..60.0_f64)).round().ln_1p()
            } else {
                0.0
            }
        });
        for x in [dense, sparse] {
            let (_, exact, _) = x.svd(false, false).unwrap().sort_svd_desc();
            let total = frobenius2(&x);
            for rank in 1..=40 {
                let svd = truncated_svd(x.view(), rank).unwrap();
                for i in 0..rank {
                    assert!(
                        (svd.s[i] - exact[i]).abs() <= 1e-9 * exact[i],
                        "rank {rank}: σ{i} {} vs exact {}",
                        svd.s[i],
                        exact[i]
                    );
                }
                let back = svd.u.dot(&Array2::from_diag(&svd.s)).dot(&svd.v.t());
                let err = frobenius2(&(&back - &x));
                let bound: f64 = exact.iter().skip(rank).map(|s| s * s).sum();
                assert!(
                    (err - bound).abs() <= 1e-9 * total,
                    "rank {rank}: error {err} vs Eckart–Young {bound}"
                );
            }
        }
    }

    /// A book of `n` accounts over 20 features in 4 clusters of 5: each account uses 2–4
    /// features of its cluster, sometimes one at random; every 25th account uses nothing.
    fn book(n: usize, seed: u64) -> FeatureUsage {
        let p = 20;
        let mut r = rng(seed);
        let mut counts = vec![0.0; n * p];
        for a in 0..n {
            if a % 25 == 24 {
                continue;
            }
            let c = r.random_range(0..4);
            let k = r.random_range(2..=4);
            for _ in 0..k {
                let f = c * 5 + r.random_range(0..5);
                counts[a * p + f] += r.random_range(1.0..40.0_f64).round();
            }
            if r.random_bool(0.2) {
                counts[a * p + r.random_range(0..p)] += 1.0;
            }
        }
        FeatureUsage {
            as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            days: 90,
            account_ids: (0..n).map(|a| format!("A-{a:05}")).collect(),
            features: (1..=p).map(|f| format!("feature_{f}")).collect(),
            errors: vec![0.0; n * p],
            counts,
        }
    }

    #[test]
    fn recommendations_are_unused_features_best_first() {
        let usage = book(400, 1);
        let model = fit(&usage, None, &Params::default()).unwrap();
        assert_eq!(model.rank, 4);
        let mut some = 0;
        for (row, id) in usage.account_ids.iter().enumerate() {
            let recs = model.recommend(id, 3);
            assert!(recs.len() <= 3);
            let used = usage.counts_row(row);
            for rec in &recs {
                let f = usage
                    .features
                    .iter()
                    .position(|f| *f == rec.feature)
                    .unwrap();
                assert_eq!(used[f], 0.0, "{id} already uses {}", rec.feature);
                assert!((0.0..=1.0).contains(&rec.affinity));
            }
            assert!(recs.windows(2).all(|w| w[0].affinity >= w[1].affinity));
            if used.iter().all(|&c| c == 0.0) {
                assert!(recs.is_empty(), "{id} has no usage to go on");
            }
            some += usize::from(recs.len() == 3);
            assert_eq!(
                model.best_affinity(row),
                recs.first().map_or(0.0, |r| r.affinity)
            );
        }
        assert!(some > 300, "{some}");
        assert!(model.recommend("nobody", 3).is_empty());
    }

    #[test]
    fn fitting_on_a_subset_ignores_the_other_rows() {
        let usage = book(300, 2);
        let mask: Vec<bool> = (0..300).map(|r| r % 3 != 0).collect();
        let a = fit(&usage, Some(&mask), &Params::default()).unwrap();
        // Changing rows outside the mask changes nothing but their own projection.
        let mut other = usage.clone();
        for r in (0..300).filter(|r| r % 3 == 0) {
            for c in &mut other.counts[r * 20..(r + 1) * 20] {
                *c = 999.0;
            }
        }
        let b = fit(&other, Some(&mask), &Params::default()).unwrap();
        assert_eq!(a.fitted_rows, 200);
        assert_eq!(a.singular_values, b.singular_values);
        assert_eq!(a.recommend("A-00001", 3), b.recommend("A-00001", 3));
        assert!(fit(&usage, Some(&[true]), &Params::default()).is_err());
        assert!(fit(&usage, Some(&[false; 300]), &Params::default()).is_err());
    }

    #[test]
    fn lookalikes_exclude_self_are_sorted_and_match_the_tree() {
        let usage = book(500, 3);
        let model = fit(&usage, None, &Params::default()).unwrap();
        let all = model.lookalikes_all(5);
        assert_eq!(all.len(), 500);
        for (row, id) in usage.account_ids.iter().enumerate() {
            let near = model.lookalikes(id, 5);
            assert_eq!(near, all[row], "{id}");
            if usage.counts_row(row).iter().all(|&c| c == 0.0) {
                assert!(near.is_empty());
                continue;
            }
            assert_eq!(near.len(), 5);
            assert!(near.iter().all(|l| l.account_id != *id));
            assert!(near.windows(2).all(|w| w[0].similarity >= w[1].similarity));
            assert!(near.iter().all(|l| (-1.0..=1.0).contains(&l.similarity)));
            let mine = usage.counts_row(row);
            for l in &near {
                let theirs = usage.counts_row(usage.row_of(&l.account_id).unwrap());
                for f in &l.adopted {
                    let c = usage.features.iter().position(|g| g == f).unwrap();
                    assert!(theirs[c] > 0.0 && mine[c] == 0.0);
                }
            }
        }
    }

    /// id, status, tier, readiness, growth, device gap, seats, MRR change over 90 days.
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<f64>,
        Option<f64>,
        Option<i64>,
        Option<i64>,
        f64,
    );

    fn record(rows: &[Row]) -> GoldenRecord {
        let col = |i: usize| -> Vec<_> {
            rows.iter()
                .map(|r| match i {
                    0 => r.0,
                    1 => r.1,
                    _ => r.2,
                })
                .collect()
        };
        let frame = DataFrame::new_infer_height(vec![
            Column::new("account_id".into(), col(0)),
            Column::new("lifecycle_status".into(), col(1)),
            Column::new("plan_tier".into(), col(2)),
            Column::new(
                "crosssell_readiness_score".into(),
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            ),
            Column::new(
                "growth_rate_mom".into(),
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            ),
            Column::new(
                "device_gap".into(),
                rows.iter().map(|r| r.5).collect::<Vec<_>>(),
            ),
            Column::new("seats".into(), rows.iter().map(|r| r.6).collect::<Vec<_>>()),
            Column::new(
                "mrr_change_90d".into(),
                rows.iter().map(|r| r.7).collect::<Vec<_>>(),
            ),
        ])
        .unwrap();
        GoldenRecord {
            as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            frame,
        }
    }

    #[test]
    fn hybrid_scores_stay_in_0_1_for_active_accounts_only() {
        let usage = book(200, 4);
        let model = fit(&usage, None, &Params::default()).unwrap();
        let rec = record(&[
            (
                "A-00000",
                "active",
                "Basic",
                Some(100.0),
                Some(0.9),
                Some(5000),
                Some(1),
                10.0,
            ),
            (
                "A-00001",
                "active",
                "Enterprise",
                Some(0.0),
                Some(-0.5),
                Some(-40),
                Some(0),
                -5.0,
            ),
            (
                "A-00002",
                "churned",
                "Pro",
                Some(50.0),
                Some(0.01),
                Some(3),
                Some(10),
                -80.0,
            ),
            ("A-00024", "active", "Pro", None, None, None, None, 0.0),
            (
                "Z-1",
                "active",
                "Gold",
                Some(60.0),
                Some(0.02),
                Some(2),
                Some(10),
                0.0,
            ),
            (
                "A-00003",
                "no_subscription",
                "Basic",
                None,
                None,
                None,
                None,
                0.0,
            ),
        ]);
        let scores = model.hybrid_scores(&rec).unwrap();
        let ids: Vec<&str> = scores.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["A-00000", "A-00001", "A-00024", "Z-1"]);
        assert!(scores.iter().all(|(_, s)| (0.0..=1.0).contains(s)));
        // Every rule maxed plus a CF affinity of 1 for its best feature: close to 1.
        let best = model.recommend("A-00000", 1)[0].affinity;
        assert!((scores[0].1 - (W_AFFINITY * best + 1.0 - W_AFFINITY)).abs() < 1e-12);
        // No usage (A-00024) and no rule inputs: only Pro's headroom is left.
        assert!((scores[2].1 - W_TIER * 0.5).abs() < 1e-12);
        assert!(scores[1].1 < scores[0].1);

        let outcomes = Outcomes::from_record(&rec).unwrap();
        assert_eq!(outcomes.of("A-00000"), Some(Outcome::Expanded));
        assert_eq!(outcomes.of("A-00001"), Some(Outcome::Contracted));
        assert_eq!(outcomes.of("A-00002"), Some(Outcome::Churned));
        assert_eq!(outcomes.of("A-00024"), Some(Outcome::Steady));
        let mut near = model.lookalikes("A-00005", 5);
        outcomes.annotate(&mut near);
        assert!(near.iter().all(|l| l.outcome == outcomes.of(&l.account_id)));

        let mask = active_rows(&usage, &rec).unwrap();
        let active: Vec<usize> = (0..mask.len()).filter(|&r| mask[r]).collect();
        assert_eq!(active, [0, 1, 24]);
    }

    #[test]
    fn held_out_adoptions_beat_popularity_and_repeat() {
        let usage = book(1000, 5);
        let a = evaluate(&usage, None, &Params::default(), 9).unwrap();
        let b = evaluate(&usage, None, &Params::default(), 9).unwrap();
        assert_eq!(a, b);
        assert!(a.accounts > 800, "{a:?}");
        assert!(a.model > 2.0 * a.popularity, "{a:?}");
        let choice = choose_rank(&usage, None, 9).unwrap();
        let (rank, rates) = (choice.rank, &choice.rates);
        assert_eq!(rates.len(), RANKS.len());
        assert!(
            rates
                .iter()
                .all(|(_, h)| h.model <= rates.iter().find(|(r, _)| *r == rank).unwrap().1.model)
        );
        // Reported on other hidden adoptions than it was chosen on.
        let other = evaluate(&usage, None, &Params { rank }, 10).unwrap();
        assert_eq!(choice.held_out, other);
        assert_ne!(choice.held_out, a, "a different hiding");
    }
}
