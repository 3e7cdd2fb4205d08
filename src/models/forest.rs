//! Histogram-binned random forest: the escalation model's learner.
//!
//! Why hand-written: measured with `benches/forest.rs` on synthetic escalation-like data (5%
//! positives, mixed feature kinds, missing values), 100 trees, balanced class weights, on this
//! project's 2-core machine. CPU seconds, as the machine was shared:
//!
//! - `linfa-trees` 0.8.1 `DecisionTree`, bagged by hand, cannot do it. A node scans every row
//!   of the training set (its row mask), so a tree costs rows × nodes: at 100k×60 a tree takes
//!   2.0 CPU s with √p features per tree (`linfa-ensemble`'s way; ≈100 s for 100 trees on 2
//!   threads) and 20.6 CPU s with all features (≈1,030 s). It samples no features per split,
//!   its leaves keep only the majority label (probabilities only by routing each tree's sample
//!   back through its public nodes), it needs NaN imputed (it sorts with
//!   `partial_cmp(..).unwrap_or(Greater)`), and with fractional class weights on 100k rows
//!   its f32 class sums reach 0 and trip `assert!(n_samples > 0.0)`. At 20k×25 it reached
//!   PR-AUC 0.169 (√p per tree, 13 CPU s) or 0.209 (all features, 67 CPU s).
//! - scikit-learn 1.9.1 `RandomForestClassifier(n_jobs=2)` at 500k×80: 376 CPU s (default
//!   fully grown trees, PR-AUC 0.230, 1.3 GB peak) or 253 CPU s (`max_depth=14,
//!   min_samples_leaf=10`, PR-AUC 0.252).
//! - This forest at 500k×80: 5.5 s wall (10.9 CPU s), PR-AUC 0.256, 100 MB above the
//!   training matrix; 300k×80 in 3.1 s, 600k×100 in 8.7 s. At 100k×60 with the same
//!   `max_depth=20, min_samples_leaf=40` scikit-learn takes 28 CPU s and this forest 1.7, for
//!   the same PR-AUC (0.246 both).
//!
//! How: every feature is binned once into at most 255 quantile bins plus a bin of its own for
//! missing values (row-major `u8`: a row's sampled features sit in one or two cache lines). A
//! node's split search is one pass over its rows adding integer class counts into a histogram
//! per sampled feature, then a scan over the bins touched; each split learns which side
//! missing values go. Once a node's rows fit in L3 (then L2) they are copied together and its
//! subtree grown from the copy. Trees grow on 2 threads, each from its own seeded stream, so
//! the forest is the same for a seed whatever the scheduling.

use std::sync::atomic::{AtomicUsize, Ordering};

use linfa::DatasetBase;
use linfa::dataset::AsSingleTargets;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, ArrayView2, Data, Ix2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Missing values (NaN) get this bin; value bins are `0..=254`.
const MISSING: u8 = u8::MAX;
const HIST: usize = 256;
/// Rows sampled per feature to place the quantile edges: about 400 per bin at 255 bins.
const BIN_SAMPLE: usize = 100_000;
/// How far ahead the histogram pass asks for a row's bins: rows are scattered once a node
/// is a fraction of the sample, and the loads otherwise wait on memory.
const PREFETCH_ROWS: usize = 16;
/// Rows run through the trees together when predicting (256 rows × 100 features = 200 kB).
const PREDICT_BLOCK: usize = 256;
/// Most rows (and bootstrap draws) for 21-bit packed counts.
const PACKED_ROWS: usize = (1 << 21) - 1;
/// Nodes with at least this many rows find their touched bins by scanning all 256.
const DENSE_ROWS: usize = 512;
/// Sizes of the compact copies small nodes' subtrees are grown from: one that stays in the
/// shared 32 MB L3 (an eighth of it), then one in a quarter of a core's 1 MB L2.
const LOCAL_BYTES: [usize; 2] = [4 << 20, 256 << 10];

/// Features tried at each node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxFeatures {
    /// `floor(sqrt(p))`, the usual classification default (as scikit-learn).
    Sqrt,
    /// `floor(log2(p))`.
    Log2,
    /// Every feature (plain bagging).
    All,
    /// A fixed number, capped at `p`.
    Count(usize),
    /// A fraction of `p`, in `(0, 1]`.
    Fraction(f64),
}

impl MaxFeatures {
    fn resolve(self, p: usize) -> usize {
        let k = match self {
            MaxFeatures::Sqrt => (p as f64).sqrt() as usize,
            MaxFeatures::Log2 => (p as f64).log2() as usize,
            MaxFeatures::All => p,
            MaxFeatures::Count(k) => k,
            MaxFeatures::Fraction(f) => (f * p as f64).round() as usize,
        };
        k.clamp(1, p.max(1))
    }
}

/// Node impurity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    Gini,
    Entropy,
}

/// Class weights, multiplied into the sample weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClassWeight {
    /// Every row counts by its sample weight alone.
    None,
    /// `n / (2 · n_class)` per class on the training rows, as scikit-learn's `"balanced"`.
    Balanced,
    /// Explicit weights for the negative and the positive class.
    Custom { negative: f64, positive: f64 },
}

/// Hyper-parameters of [`RandomForest`]; fit with [`linfa::traits::Fit`] or [`ForestParams::fit_arrays`].
///
/// Defaults: 100 trees, ⌊√p⌋ features per node, `max_depth` 20, `min_samples_leaf` 40, 255
/// bins, Gini, no class weights (the escalation model sets [`ClassWeight::Balanced`]),
/// bootstrap of n rows, seed 42. Depth and leaf size come from a sweep on the benchmark data
/// (PR-AUC at 300k×80 / 100k×60): depth 14 & leaf 10 0.236 / 0.224, 16 & 20 0.241 / 0.239,
/// 20 & 40 0.252 / 0.246, 30 & 40 0.253 at 300k: bigger leaves average more rows, which
/// steadies the probability of a rare class, and depth 20 is a guard rather than a limit.
#[derive(Clone, Debug, PartialEq)]
pub struct ForestParams {
    pub n_trees: usize,
    pub max_features: MaxFeatures,
    /// The root is depth 0; a node at `max_depth` is a leaf.
    pub max_depth: usize,
    /// Fewest distinct training rows in a leaf.
    pub min_samples_leaf: usize,
    /// Value bins per feature, 2..=255 (missing values have a bin of their own on top).
    pub max_bins: usize,
    pub criterion: Criterion,
    pub class_weight: ClassWeight,
    /// Draw a bootstrap sample per tree; without it every tree sees every row.
    pub bootstrap: bool,
    /// Bootstrap draws per tree as a fraction of the rows, in `(0, 1]`.
    pub max_samples: f64,
    /// At most this many bootstrap draws per tree, whatever the fraction: on large data a
    /// tree learns as much from a sample, and growing it costs in proportion.
    pub max_draws: Option<usize>,
    /// Threads for fitting and predicting; 0 means all available cores.
    pub n_threads: usize,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_features: MaxFeatures::Sqrt,
            max_depth: 20,
            min_samples_leaf: 40,
            max_bins: 255,
            criterion: Criterion::Gini,
            class_weight: ClassWeight::None,
            bootstrap: true,
            max_samples: 1.0,
            max_draws: None,
            n_threads: 0,
            seed: 42,
        }
    }
}

/// Why a forest could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    #[error("invalid forest parameter: {0}")]
    Params(String),
    #[error("invalid training data: {0}")]
    Data(String),
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

macro_rules! setters {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name;
                self
            }
        )*
    };
}

impl ForestParams {
    setters!(
        n_trees: usize,
        max_features: MaxFeatures,
        max_depth: usize,
        min_samples_leaf: usize,
        max_bins: usize,
        criterion: Criterion,
        class_weight: ClassWeight,
        bootstrap: bool,
        max_samples: f64,
        max_draws: Option<usize>,
        n_threads: usize,
        seed: u64,
    );

    /// Bootstrap draws per tree from `n` rows.
    fn draws(&self, n: usize) -> usize {
        let d = ((self.max_samples * n as f64).round() as usize).max(1);
        self.max_draws.map_or(d, |m| d.min(m))
    }

    fn validate(&self) -> Result<(), ForestError> {
        let bad = |what: &str| Err(ForestError::Params(what.to_string()));
        if self.n_trees == 0 {
            return bad("n_trees must be at least 1");
        }
        if self.max_depth == 0 {
            return bad("max_depth must be at least 1");
        }
        if self.min_samples_leaf == 0 {
            return bad("min_samples_leaf must be at least 1");
        }
        if !(2..=255).contains(&self.max_bins) {
            return bad("max_bins must be in 2..=255");
        }
        if !(self.max_samples > 0.0 && self.max_samples <= 1.0) {
            return bad("max_samples must be in (0, 1]");
        }
        if self.max_draws == Some(0) {
            return bad("max_draws must be at least 1");
        }
        match self.max_features {
            MaxFeatures::Count(0) => return bad("max_features must be at least 1"),
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                return bad("max_features fraction must be in (0, 1]");
            }
            _ => {}
        }
        if let ClassWeight::Custom { negative, positive } = self.class_weight
            && !(negative.is_finite() && positive.is_finite() && negative > 0.0 && positive > 0.0)
        {
            return bad("class weights must be finite and positive");
        }
        Ok(())
    }

    fn threads(&self) -> usize {
        threads(self.n_threads)
    }

    /// Fits on a feature matrix (NaN = missing), labels and optional non-negative sample weights.
    pub fn fit_arrays(
        &self,
        x: ArrayView2<f64>,
        y: &[bool],
        sample_weight: Option<&[f64]>,
    ) -> Result<RandomForest, ForestError> {
        self.fit_tuned(x, y, sample_weight, Tuning::default())
    }

    fn fit_tuned(
        &self,
        x: ArrayView2<f64>,
        y: &[bool],
        sample_weight: Option<&[f64]>,
        tuning: Tuning,
    ) -> Result<RandomForest, ForestError> {
        self.validate()?;
        let (n, p) = x.dim();
        if n == 0 || p == 0 {
            return Err(ForestError::Data("no rows or no features".into()));
        }
        if n >= u32::MAX as usize || p >= u32::MAX as usize {
            return Err(ForestError::Data("too many rows or features".into()));
        }
        if y.len() != n {
            return Err(ForestError::Data(format!(
                "{} labels for {n} rows",
                y.len()
            )));
        }
        if let Some(w) = sample_weight {
            if w.len() != n {
                return Err(ForestError::Data(format!(
                    "{} weights for {n} rows",
                    w.len()
                )));
            }
            if w.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(ForestError::Data("weights must be finite and >= 0".into()));
            }
        }
        let positives = y.iter().filter(|&&l| l).count();
        let (cw_neg, cw_pos) = match self.class_weight {
            ClassWeight::None => (1.0, 1.0),
            ClassWeight::Balanced => {
                let half = n as f64 / 2.0;
                let w = |count: usize| if count == 0 { 1.0 } else { half / count as f64 };
                (w(n - positives), w(positives))
            }
            ClassWeight::Custom { negative, positive } => (negative, positive),
        };
        let base: Vec<f64> = (0..n)
            .map(|i| {
                let sw = sample_weight.map_or(1.0, |w| w[i]);
                sw * if y[i] { cw_pos } else { cw_neg }
            })
            .collect();
        let total: f64 = base.iter().sum();
        if total <= 0.0 {
            return Err(ForestError::Data("all sample weights are zero".into()));
        }
        let prior = y
            .iter()
            .zip(&base)
            .filter(|(l, _)| **l)
            .map(|(_, w)| w)
            .sum::<f64>()
            / total;

        let threads = self.threads();
        let bins = Bins::fit(x, self.max_bins, self.seed, threads);
        let binned = bins.transform(x, threads);
        let grower = Grower {
            binned: &binned,
            n,
            p,
            edges: &bins.edges,
            y,
            base: &base,
            class_weight: [cw_neg, cw_pos],
            prior,
            mtry: self.max_features.resolve(p),
            local_rows: tuning.local_bytes.map(|b| b / p),
            params: self,
        };
        let mtry = grower.mtry;
        let draws = if self.bootstrap { self.draws(n) } else { n };
        let grown = if sample_weight.is_some() {
            run_indexed(
                self.n_trees,
                threads,
                || Scratch::<Cell>::new(n, p, mtry),
                |t, s| grower.grow(t, s),
            )
        } else if n.max(draws) <= tuning.packed_rows {
            run_indexed(
                self.n_trees,
                threads,
                || Scratch::<u64>::new(n, p, mtry),
                |t, s| grower.grow(t, s),
            )
        } else {
            run_indexed(
                self.n_trees,
                threads,
                || Scratch::<[u64; 2]>::new(n, p, mtry),
                |t, s| grower.grow(t, s),
            )
        };

        let mut importance = vec![0.0; p];
        let mut trees = Vec::with_capacity(grown.len());
        for (tree, imp) in grown {
            let sum: f64 = imp.iter().sum();
            if sum > 0.0 {
                importance
                    .iter_mut()
                    .zip(&imp)
                    .for_each(|(a, b)| *a += b / sum);
            }
            trees.push(tree);
        }
        let sum: f64 = importance.iter().sum();
        if sum > 0.0 {
            importance.iter_mut().for_each(|v| *v /= sum);
        }
        Ok(RandomForest {
            trees,
            n_features: p,
            importance,
            n_threads: self.n_threads,
        })
    }
}

/// Speed knobs that must not change the forest (the tests check they don't).
#[derive(Clone, Copy)]
struct Tuning {
    local_bytes: [usize; 2],
    packed_rows: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            local_bytes: LOCAL_BYTES,
            packed_rows: PACKED_ROWS,
        }
    }
}

fn threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Runs `job(i)` for `i in 0..count` on `threads` threads, each with its own state from `init`,
/// and returns the results in index order whatever the scheduling.
fn run_indexed<S, R: Send>(
    count: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    job: impl Fn(usize, &mut S) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        let mut state = init();
        return (0..count).map(|i| job(i, &mut state)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut state = init();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return out;
                        }
                        out.push((i, job(i, &mut state)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("forest worker panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Quantile bin edges per feature: `x` falls in bin `edges.partition_point(|&e| e < x)`, so
/// `bin <= b` exactly when `x <= edges[b]` and a split learnt on bins applies to raw values.
struct Bins {
    edges: Vec<Vec<f64>>,
}

impl Bins {
    fn fit(x: ArrayView2<f64>, max_bins: usize, seed: u64, threads: usize) -> Bins {
        let (n, p) = x.dim();
        let rows: Vec<usize> = if n <= BIN_SAMPLE {
            (0..n).collect()
        } else {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(u64::MAX);
            let mut r: Vec<usize> = (0..BIN_SAMPLE).map(|_| rng.random_range(0..n)).collect();
            r.sort_unstable();
            r
        };
        let edges = run_indexed(p, threads, Vec::new, |f, values: &mut Vec<f64>| {
            values.clear();
            values.extend(rows.iter().map(|&r| x[[r, f]]).filter(|v| !v.is_nan()));
            edges_of(values, max_bins)
        });
        Bins { edges }
    }

    #[inline]
    fn bin(edges: &[f64], v: f64) -> u8 {
        if v.is_nan() {
            MISSING
        } else {
            edges.partition_point(|&e| e < v) as u8
        }
    }

    /// Row-major bins, `n × p`.
    fn transform(&self, x: ArrayView2<f64>, threads: usize) -> Vec<u8> {
        let (n, p) = x.dim();
        let mut out = vec![0u8; n * p];
        let chunk_rows = n.div_ceil(threads.max(1)).max(1);
        std::thread::scope(|s| {
            for (c, chunk) in out.chunks_mut(chunk_rows * p).enumerate() {
                s.spawn(move || {
                    for (k, row_out) in chunk.chunks_mut(p).enumerate() {
                        let row = x.row(c * chunk_rows + k);
                        for ((o, &v), e) in row_out.iter_mut().zip(row.iter()).zip(&self.edges) {
                            *o = Bins::bin(e, v);
                        }
                    }
                });
            }
        });
        out
    }
}

/// Edges for one feature from its non-missing values: midpoints between the distinct values
/// when there are few, else the values at evenly spaced quantiles.
fn edges_of(values: &mut [f64], max_bins: usize) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    let mut distinct: Vec<f64> = Vec::new();
    for &v in values.iter() {
        if distinct.last() != Some(&v) {
            distinct.push(v);
            if distinct.len() > max_bins {
                break;
            }
        }
    }
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| w[0] / 2.0 + w[1] / 2.0)
            .collect();
    }
    let m = values.len();
    let mut edges: Vec<f64> = Vec::with_capacity(max_bins - 1);
    for j in 1..max_bins {
        let e = values[(j * m / max_bins).saturating_sub(1)];
        // The top value never becomes an edge, so the last bin is never empty.
        if e < values[m - 1] && edges.last().is_none_or(|&l| e > l) {
            edges.push(e);
        }
    }
    edges
}

/// One node. An internal node sends `x[feature] <= threshold` (and a missing value when
/// `missing_left`) to `left` and the rest to `left + 1`. A leaf sends every row to itself, so
/// prediction takes exactly `depth` steps with no branch on leaf-ness to mispredict.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Node {
    threshold: f64,
    feature: u32,
    left: u32,
    missing_left: bool,
}

impl Node {
    fn leaf(at: usize) -> Node {
        Node {
            threshold: f64::INFINITY,
            feature: 0,
            left: at as u32,
            missing_left: true,
        }
    }

    #[inline]
    fn next(&self, row: &[f64]) -> u32 {
        let v = row[self.feature as usize];
        let left = (v <= self.threshold) | (v.is_nan() & self.missing_left);
        self.left + u32::from(!left)
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Tree {
    nodes: Vec<Node>,
    /// Weighted positive fraction of each node's training rows; read at leaves.
    values: Vec<f64>,
    /// Deepest leaf.
    depth: usize,
}

impl Tree {
    /// Adds this tree's probability for each row of a row-major block to `out`; `at` is scratch.
    fn add_block(&self, rows: &[f64], p: usize, out: &mut [f64], at: &mut [u32]) {
        at.fill(0);
        // All rows advance one level at a time: independent loads overlap.
        for _ in 0..self.depth {
            for (i, row) in at.iter_mut().zip(rows.chunks_exact(p)) {
                *i = self.nodes[*i as usize].next(row);
            }
        }
        for (o, &i) in out.iter_mut().zip(at.iter()) {
            *o += self.values[i as usize];
        }
    }
}

/// A node's (or bin's) totals in floating point: weight, positive weight, distinct rows.
type Cell = [f64; 3];

/// What each in-bag row adds to a histogram bin. Without sample weights a row's weight is its
/// bootstrap count times its class weight, so integer counts say it all: exact integer adds
/// per row and feature instead of three float adds.
trait Payload: Copy + Default + PartialEq + Send {
    fn add(&mut self, other: Self);
    fn sub(self, other: Self) -> Self;
    /// Weight, positive weight and distinct rows, given the class weights (negative, positive).
    fn cell(self, class_weight: [f64; 2]) -> Cell;
    fn row(count: u32, positive: bool, base_weight: f64) -> Self;
}

/// Bootstrap draws of negatives (low half of the first word) and of positives (high half), and
/// distinct rows. The halves cannot carry into each other: neither exceeds the draws, < 2³².
impl Payload for [u64; 2] {
    #[inline(always)]
    fn add(&mut self, other: Self) {
        self[0] += other[0];
        self[1] += other[1];
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        [self[0] - other[0], self[1] - other[1]]
    }
    #[inline(always)]
    fn cell(self, [neg, pos]: [f64; 2]) -> Cell {
        let (n0, n1) = ((self[0] & 0xffff_ffff) as f64, (self[0] >> 32) as f64);
        let wp = pos * n1;
        [neg * n0 + wp, wp, self[1] as f64]
    }
    fn row(count: u32, positive: bool, _: f64) -> Self {
        let shift = if positive { 32 } else { 0 };
        [u64::from(count) << shift, 1]
    }
}

/// The same three counts in 21 bits each, for up to [`PACKED_ROWS`] rows: histogram cells of
/// 8 bytes instead of 16 keep a node's histograms in L1. No field can carry into the next:
/// none exceeds the number of draws or of rows.
impl Payload for u64 {
    #[inline(always)]
    fn add(&mut self, other: Self) {
        *self += other;
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        self - other
    }
    #[inline(always)]
    fn cell(self, [neg, pos]: [f64; 2]) -> Cell {
        const MASK: u64 = (1 << 21) - 1;
        let (n0, n1) = ((self & MASK) as f64, ((self >> 21) & MASK) as f64);
        let wp = pos * n1;
        [neg * n0 + wp, wp, (self >> 42) as f64]
    }
    fn row(count: u32, positive: bool, _: f64) -> Self {
        let shift = if positive { 21 } else { 0 };
        (u64::from(count) << shift) | (1 << 42)
    }
}

/// With sample weights: the weights themselves.
impl Payload for Cell {
    #[inline(always)]
    fn add(&mut self, other: Self) {
        self[0] += other[0];
        self[1] += other[1];
        self[2] += other[2];
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        [self[0] - other[0], self[1] - other[1], self[2] - other[2]]
    }
    #[inline(always)]
    fn cell(self, _: [f64; 2]) -> Cell {
        self
    }
    fn row(count: u32, positive: bool, base_weight: f64) -> Self {
        let w = f64::from(count) * base_weight;
        [w, if positive { w } else { 0.0 }, 1.0]
    }
}

/// Hints the cache lines of one row of the binned matrix.
#[inline(always)]
fn prefetch_row(binned: &[u8], at: usize, p: usize) {
    #[cfg(target_arch = "x86_64")]
    for offset in [0, p - 1] {
        if let Some(byte) = binned.get(at + offset) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch never faults, and the address is inside `binned` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(byte).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (binned, at, p);
}

/// Adds each row's payload to its bin of each feature in `feats`; with `KEEP` keeps the bins in
/// `node_bins` (row by row) for the partition, and with `MARK` sets the touched bits.
#[inline(always)]
fn fill_histograms<P: Payload, const MARK: bool, const KEEP: bool>(
    binned: &[u8],
    p: usize,
    feats: &[u32],
    (idx, payloads): (&[u32], &[P]),
    hist: &mut [[P; HIST]],
    touched: &mut [[u64; 4]],
    node_bins: &mut [u8],
) {
    let width = feats.len();
    for (k, (out, (&r, &payload))) in node_bins
        .chunks_exact_mut(width)
        .zip(idx.iter().zip(payloads))
        .enumerate()
    {
        if let Some(&ahead) = idx.get(k + PREFETCH_ROWS) {
            prefetch_row(binned, ahead as usize * p, p);
        }
        let row = &binned[r as usize * p..(r as usize + 1) * p];
        for (slot, &f) in feats.iter().enumerate() {
            let b = row[f as usize];
            if KEEP {
                out[slot] = b;
            }
            hist[slot][b as usize].add(payload);
            if MARK {
                touched[slot][usize::from(b >> 6)] |= 1 << (b & 63);
            }
        }
    }
}

/// Per-thread buffers, reused from tree to tree.
struct Scratch<P> {
    counts: Vec<u32>,
    idx: Vec<u32>,
    rows: Vec<P>,
    idx_tmp: Vec<u32>,
    rows_tmp: Vec<P>,
    /// `mtry × 256` bins, all zero between nodes.
    hist: Vec<[P; HIST]>,
    /// Which bins of each feature's histogram were touched.
    touched: Vec<[u64; 4]>,
    /// The node's bins of the features tried, row by row, outside local copies: the partition
    /// reads its feature here instead of missing the cache once per row in the binned matrix.
    /// (Inside a local copy, re-reading the copy is cheaper than storing every bin.)
    node_bins: Vec<u8>,
    /// The split feature's bins of a node grown from a local copy.
    split_bins: Vec<u8>,
    /// Compact copy of a small node's rows (see `Grower::grow_nodes`).
    local: [Vec<u8>; 2],
    features: Vec<u32>,
}

impl<P: Payload> Scratch<P> {
    fn new(n: usize, p: usize, mtry: usize) -> Self {
        Scratch {
            counts: vec![0; n],
            idx: Vec::with_capacity(n),
            rows: Vec::with_capacity(n),
            idx_tmp: vec![0; n],
            rows_tmp: vec![P::default(); n],
            hist: vec![[P::default(); HIST]; mtry],
            touched: vec![[0; 4]; mtry],
            node_bins: vec![0; n * mtry],
            split_bins: Vec::new(),
            local: [Vec::new(), Vec::new()],
            features: (0..p as u32).collect(),
        }
    }
}

struct Grower<'a> {
    binned: &'a [u8],
    n: usize,
    p: usize,
    edges: &'a [Vec<f64>],
    y: &'a [bool],
    /// Sample weight times class weight per row (used by the weighted payload only).
    base: &'a [f64],
    class_weight: [f64; 2],
    prior: f64,
    mtry: usize,
    /// Nodes with at most this many rows are grown from a compact copy of their rows.
    local_rows: [usize; 2],
    params: &'a ForestParams,
}

#[derive(Clone, Copy)]
struct Split<P> {
    gain: f64,
    feature: usize,
    /// Position of the feature among those tried, and how many were tried together.
    slot: usize,
    width: usize,
    bin: u8,
    missing_left: bool,
    left: P,
}

/// A tree while it grows.
struct Building {
    nodes: Vec<Node>,
    values: Vec<f64>,
    depth: usize,
    importance: Vec<f64>,
}

struct Pending<P> {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    total: P,
}

impl Grower<'_> {
    /// Impurity of a node times its weight (Gini without its constant factor 2).
    #[inline(always)]
    fn impurity(&self, c: &Cell) -> f64 {
        let (w, pos) = (c[0], c[1].clamp(0.0, c[0]));
        if w <= 0.0 {
            return 0.0;
        }
        let neg = w - pos;
        match self.params.criterion {
            Criterion::Gini => pos * neg / w,
            Criterion::Entropy => {
                let h = |k: f64| if k > 0.0 { -k * (k / w).ln() } else { 0.0 };
                h(pos) + h(neg)
            }
        }
    }

    fn grow<P: Payload>(&self, t: usize, s: &mut Scratch<P>) -> (Tree, Vec<f64>) {
        let params = self.params;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(t as u64);
        // The feature permutation carries over between nodes, so it must start afresh per tree
        // for the tree to depend on its seed alone.
        s.features
            .iter_mut()
            .enumerate()
            .for_each(|(i, f)| *f = i as u32);
        s.counts.fill(0);
        if params.bootstrap {
            let draws = params.draws(self.n);
            for _ in 0..draws {
                s.counts[rng.random_range(0..self.n)] += 1;
            }
        } else {
            s.counts.fill(1);
        }
        s.idx.clear();
        s.rows.clear();
        let mut total = P::default();
        for (r, &c) in s.counts.iter().enumerate() {
            if c > 0 && self.base[r] > 0.0 {
                let row = P::row(c, self.y[r], self.base[r]);
                total.add(row);
                s.idx.push(r as u32);
                s.rows.push(row);
            }
        }
        let importance = vec![0.0; self.p];
        if s.idx.is_empty() {
            let tree = Tree {
                nodes: vec![Node::leaf(0)],
                values: vec![self.prior],
                depth: 0,
            };
            return (tree, importance);
        }

        let mut tree = Building {
            nodes: vec![Node::leaf(0)],
            values: vec![0.0],
            depth: 0,
            importance,
        };
        let root = Pending {
            node: 0,
            start: 0,
            end: s.idx.len(),
            depth: 0,
            total,
        };
        self.grow_nodes(s, &mut rng, self.binned, 0, root, &mut tree);
        let Building {
            nodes,
            values,
            depth,
            importance,
        } = tree;
        (
            Tree {
                nodes,
                values,
                depth,
            },
            importance,
        )
    }

    /// Grows the subtree under `first` depth-first. Rows are read from `binned` through
    /// `s.idx`. Once a node is small enough, its rows are copied into a compact buffer (first
    /// one that fits in L3, then one that fits in L2: `tier` says which were used) and its whole
    /// subtree grown from there: below that size its rows are scattered over the full matrix
    /// and every level would fetch them from memory again. The copy changes where bins are
    /// read, not the order of random draws, so the tree is the same.
    fn grow_nodes<P: Payload>(
        &self,
        s: &mut Scratch<P>,
        rng: &mut ChaCha8Rng,
        binned: &[u8],
        tier: usize,
        first: Pending<P>,
        tree: &mut Building,
    ) {
        let params = self.params;
        let msl = params.min_samples_leaf as f64;
        let mut stack = vec![first];
        while let Some(job) = stack.pop() {
            let tot = job.total.cell(self.class_weight);
            tree.values[job.node] = (tot[1] / tot[0]).clamp(0.0, 1.0);
            let pure = tot[1] <= 0.0 || tot[1] >= tot[0];
            if pure || job.depth >= params.max_depth || tot[2] < 2.0 * msl {
                tree.depth = tree.depth.max(job.depth);
                continue;
            }
            let rows = job.end - job.start;
            if let Some(next) = (tier..2).find(|&t| rows <= self.local_rows[t]) {
                let p = self.p;
                let mut copy = std::mem::take(&mut s.local[next]);
                copy.clear();
                for (k, r) in s.idx[job.start..job.end].iter_mut().enumerate() {
                    let at = *r as usize * p;
                    copy.extend_from_slice(&binned[at..at + p]);
                    *r = k as u32;
                }
                self.grow_nodes(s, rng, &copy, next + 1, job, tree);
                s.local[next] = copy;
                continue;
            }
            // Outside a local copy, keep the tried bins for the partition (see `node_bins`).
            let keep = tier == 0;
            let Some(split) = self.best_split(s, rng, binned, keep, &job) else {
                tree.depth = tree.depth.max(job.depth);
                continue;
            };
            tree.importance[split.feature] += split.gain;
            let mid = if keep {
                let bins = std::mem::take(&mut s.node_bins);
                let column = bins[..(job.end - job.start) * split.width].iter();
                let column = column.skip(split.slot).step_by(split.width).copied();
                let mid = partition(s, job.start, job.end, &split, column);
                s.node_bins = bins;
                mid
            } else {
                // A local copy is in cache: read the split feature from it again.
                let (p, f) = (self.p, split.feature);
                let mut column = std::mem::take(&mut s.split_bins);
                column.clear();
                column.extend(
                    s.idx[job.start..job.end]
                        .iter()
                        .map(|&r| binned[r as usize * p + f]),
                );
                let mid = partition(s, job.start, job.end, &split, column.iter().copied());
                s.split_bins = column;
                mid
            };
            debug_assert_eq!(
                (mid - job.start) as f64,
                split.left.cell(self.class_weight)[2]
            );
            let left = tree.nodes.len();
            tree.nodes.extend([Node::leaf(left), Node::leaf(left + 1)]);
            tree.values.extend([0.0, 0.0]);
            let edges = &self.edges[split.feature];
            tree.nodes[job.node] = Node {
                threshold: edges
                    .get(split.bin as usize)
                    .copied()
                    .unwrap_or(f64::INFINITY),
                feature: split.feature as u32,
                left: left as u32,
                missing_left: split.missing_left,
            };
            let child_depth = job.depth + 1;
            stack.push(Pending {
                node: left + 1,
                start: mid,
                end: job.end,
                depth: child_depth,
                total: job.total.sub(split.left),
            });
            stack.push(Pending {
                node: left,
                start: job.start,
                end: mid,
                depth: child_depth,
                total: split.left,
            });
        }
    }

    /// Best split over `mtry` features drawn at random, as scikit-learn does: a feature that is
    /// constant within the node still counts as tried, but more are drawn while none varies.
    /// (Replacing every constant feature by another draw, or drawing on until some split
    /// leaves `min_samples_leaf` rows each side, cost time and gained no PR-AUC.)
    fn best_split<P: Payload>(
        &self,
        s: &mut Scratch<P>,
        rng: &mut ChaCha8Rng,
        binned: &[u8],
        keep: bool,
        job: &Pending<P>,
    ) -> Option<Split<P>> {
        let (start, end, total, p) = (job.start, job.end, job.total, self.p);
        let cw = self.class_weight;
        let tot = total.cell(cw);
        let parent = self.impurity(&tot);
        let msl = self.params.min_samples_leaf as f64;
        let mut best: Option<Split<P>> = None;
        let mut best_gain = parent * 1e-9;
        // Features drawn so far, and how many of them vary within the node.
        let (mut drawn, mut varying) = (0, 0);
        while drawn < p && (drawn < self.mtry || varying == 0) {
            // Only a batch of constant features is followed by another, and it found no split:
            // the chosen split's bins are always the last batch's, still in `node_bins`.
            debug_assert!(best.is_none());
            let width = if drawn < self.mtry {
                self.mtry - drawn
            } else {
                1
            }
            .min(p - drawn);
            for i in drawn..drawn + width {
                let j = rng.random_range(i..p);
                s.features.swap(i, j);
            }
            let feats = &s.features[drawn..drawn + width];
            drawn += width;

            // Histograms of these features over the node's rows. A big node marks its
            // touched bins afterwards from the cells (256 checks beat a bit per row).
            let hist = &mut s.hist[..width];
            let touched = &mut s.touched[..width];
            let node_bins = &mut s.node_bins[..(end - start) * width];
            let rows = (&s.idx[start..end], &s.rows[start..end]);
            let fill = match (end - start >= DENSE_ROWS, keep) {
                (false, true) => fill_histograms::<P, true, true>,
                (false, false) => fill_histograms::<P, true, false>,
                (true, true) => fill_histograms::<P, false, true>,
                (true, false) => fill_histograms::<P, false, false>,
            };
            fill(binned, p, feats, rows, hist, touched, node_bins);
            if end - start >= DENSE_ROWS {
                for (bits, cells) in touched.iter_mut().zip(hist.iter()) {
                    for (b, cell) in cells.iter().enumerate() {
                        bits[b >> 6] |= u64::from(*cell != P::default()) << (b & 63);
                    }
                }
            }

            // Scan the touched bins in order, clearing them behind us.
            for (slot, &f) in feats.iter().enumerate() {
                let hist = &mut hist[slot];
                let bits = std::mem::take(&mut touched[slot]);
                if bits.iter().map(|w| w.count_ones()).sum::<u32>() > 1 {
                    varying += 1;
                }
                let missing = std::mem::take(&mut hist[MISSING as usize]);
                let has_missing = bits[3] >> 63 != 0;
                let mut cum = P::default();
                for (word, mut w) in bits.into_iter().enumerate() {
                    while w != 0 {
                        let b = word * 64 + w.trailing_zeros() as usize;
                        w &= w - 1;
                        if b == MISSING as usize {
                            continue;
                        }
                        cum.add(std::mem::take(&mut hist[b]));
                        for missing_left in [false, true] {
                            if missing_left && !has_missing {
                                continue;
                            }
                            let mut left = cum;
                            if missing_left {
                                left.add(missing);
                            }
                            let (l, r) = (left.cell(cw), total.sub(left).cell(cw));
                            if l[2] < msl || r[2] < msl {
                                continue;
                            }
                            let gain = parent - self.impurity(&l) - self.impurity(&r);
                            if gain > best_gain {
                                best_gain = gain;
                                best = Some(Split {
                                    gain,
                                    feature: f as usize,
                                    slot,
                                    width,
                                    bin: b as u8,
                                    missing_left,
                                    left,
                                });
                            }
                        }
                    }
                }
            }
        }
        best
    }
}

/// Stable partition of the node's rows (left rows first) by their bins of the split feature,
/// keeping row order ascending so the histogram pass reads the binned matrix front to back.
fn partition<P: Payload>(
    s: &mut Scratch<P>,
    start: usize,
    end: usize,
    split: &Split<P>,
    bins: impl Iterator<Item = u8>,
) -> usize {
    let (mut nl, mut nr) = (start, 0);
    for (k, b) in (start..end).zip(bins) {
        let left = if b == MISSING {
            split.missing_left
        } else {
            b <= split.bin
        };
        let (r, payload) = (s.idx[k], s.rows[k]);
        if left {
            s.idx[nl] = r;
            s.rows[nl] = payload;
            nl += 1;
        } else {
            s.idx_tmp[nr] = r;
            s.rows_tmp[nr] = payload;
            nr += 1;
        }
    }
    s.idx[nl..end].copy_from_slice(&s.idx_tmp[..nr]);
    s.rows[nl..end].copy_from_slice(&s.rows_tmp[..nr]);
    nl
}

/// A fitted forest: the mean over trees of each leaf's weighted positive fraction.
///
/// With class weights the leaves are fractions of *weighted* rows, so probabilities are
/// shifted towards the minority class: calibrate them (see [`super::calibrate`]) before
/// reading them as rates.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomForest {
    trees: Vec<Tree>,
    n_features: usize,
    importance: Vec<f64>,
    n_threads: usize,
}

impl RandomForest {
    /// The default parameters.
    pub fn params() -> ForestParams {
        ForestParams::default()
    }

    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Total number of nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.trees.iter().map(|t| t.nodes.len()).sum()
    }

    /// Mean decrease in impurity per feature, normalised per tree and then to sum to 1.
    pub fn feature_importance(&self) -> &[f64] {
        &self.importance
    }

    /// Probability of the positive class per row of `x` (NaN = missing).
    ///
    /// # Panics
    /// If `x` does not have the training number of columns.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Vec<f64> {
        assert_eq!(
            x.ncols(),
            self.n_features,
            "feature count differs from training"
        );
        let n = x.nrows();
        let mut out = vec![0.0; n];
        if n == 0 {
            return out;
        }
        let threads = threads(self.n_threads).min(n.div_ceil(1024)).max(1);
        let chunk = n.div_ceil(threads);
        let scale = 1.0 / self.trees.len() as f64;
        let p = self.n_features;
        std::thread::scope(|s| {
            for (c, part) in out.chunks_mut(chunk).enumerate() {
                s.spawn(move || {
                    // Trees outermost over a block of rows: one tree's nodes stay in cache while
                    // the block runs through it (row by row, every tree missed the cache).
                    let mut rows = Vec::with_capacity(PREDICT_BLOCK * p);
                    let mut at = vec![0u32; PREDICT_BLOCK];
                    for (b, block) in part.chunks_mut(PREDICT_BLOCK).enumerate() {
                        let first = c * chunk + b * PREDICT_BLOCK;
                        rows.clear();
                        for i in first..first + block.len() {
                            rows.extend(x.row(i).iter());
                        }
                        let at = &mut at[..block.len()];
                        for tree in &self.trees {
                            tree.add_block(&rows, p, block, at);
                        }
                        block.iter_mut().for_each(|o| *o *= scale);
                    }
                });
            }
        });
        out
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, T, ForestError> for ForestParams
where
    D: Data<Elem = f64>,
    T: AsSingleTargets<Elem = bool>,
{
    type Object = RandomForest;

    /// Fits on the dataset's records and targets, with its `weights()` as sample weights.
    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<RandomForest, ForestError> {
        let y: Vec<bool> = dataset.as_single_targets().iter().copied().collect();
        let w: Option<Vec<f64>> = dataset
            .weights()
            .map(|w| w.iter().map(|&v| f64::from(v)).collect());
        self.fit_arrays(dataset.records().view(), &y, w.as_deref())
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for RandomForest {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        assert_eq!(x.nrows(), y.len(), "one output per row");
        let p = self.predict_proba(x.view());
        y.iter_mut().zip(p).for_each(|(o, v)| *o = v);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::metrics::{pr_auc, roc_auc};
    use linfa::traits::Predict;
    use ndarray::{Array2, ShapeBuilder};

    struct Synthetic {
        x: Array2<f64>,
        y: Vec<bool>,
        /// The true linear predictor: the logistic oracle's score.
        logit: Vec<f64>,
    }

    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// y ~ Bernoulli(sigmoid(a + 2·x0 − x1 + noise)) with about 5% positives; columns 2..p are
    /// noise; 10% of x1 and of column 2 are missing.
    fn synthetic(n: usize, p: usize, seed: u64) -> Synthetic {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Array2::zeros((n, p));
        let mut logit = Vec::with_capacity(n);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            for j in 0..p {
                x[[i, j]] = normal(&mut rng);
            }
            let z = -4.6 + 2.0 * x[[i, 0]] - x[[i, 1]];
            let noisy = z + 0.5 * normal(&mut rng);
            logit.push(z);
            y.push(rng.random::<f64>() < 1.0 / (1.0 + (-noisy).exp()));
            for j in [1, 2] {
                if rng.random::<f64>() < 0.1 {
                    x[[i, j]] = f64::NAN;
                }
            }
        }
        Synthetic { x, y, logit }
    }

    fn small() -> ForestParams {
        RandomForest::params().n_trees(40).seed(7)
    }

    #[test]
    fn ranks_close_to_the_logistic_oracle() {
        let train = synthetic(6000, 8, 1);
        let test = synthetic(6000, 8, 2);
        let base = test.y.iter().filter(|&&l| l).count() as f64 / test.y.len() as f64;
        assert!((0.03..0.08).contains(&base), "base rate {base}");
        let forest = small().fit_arrays(train.x.view(), &train.y, None).unwrap();
        let p = forest.predict_proba(test.x.view());
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        let (roc, pr) = (roc_auc(&p, &test.y).unwrap(), pr_auc(&p, &test.y).unwrap());
        let oracle_roc = roc_auc(&test.logit, &test.y).unwrap();
        let oracle_pr = pr_auc(&test.logit, &test.y).unwrap();
        eprintln!("forest roc {roc:.3} pr {pr:.3}; oracle roc {oracle_roc:.3} pr {oracle_pr:.3}");
        assert!(roc > oracle_roc - 0.05, "roc {roc} vs oracle {oracle_roc}");
        assert!(
            pr > 3.0 * base && pr > oracle_pr - 0.12,
            "pr {pr} vs oracle {oracle_pr}"
        );
    }

    #[test]
    fn deterministic_for_a_seed_whatever_the_threads() {
        let d = synthetic(2000, 6, 3);
        let a = small()
            .n_threads(1)
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        let b = small()
            .n_threads(2)
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        let c = small()
            .n_threads(2)
            .seed(8)
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        assert_eq!(a.trees, b.trees);
        assert_eq!(a.predict_proba(d.x.view()), b.predict_proba(d.x.view()));
        assert_ne!(a.trees, c.trees);
    }

    #[test]
    fn max_draws_caps_each_trees_sample() {
        let d = synthetic(3000, 6, 12);
        let params = small().min_samples_leaf(20);
        assert_eq!(params.draws(3000), 3000);
        assert_eq!(params.clone().max_draws(Some(200)).draws(3000), 200);
        assert_eq!(params.clone().max_draws(Some(5000)).draws(3000), 3000);
        let capped = params
            .clone()
            .max_draws(Some(200))
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        // At most 200 distinct rows and 20 per leaf: 10 leaves, 19 nodes at most per tree.
        assert!(capped.trees.iter().all(|t| t.nodes.len() <= 19));
        let full = params.fit_arrays(d.x.view(), &d.y, None).unwrap();
        assert!(full.trees.iter().any(|t| t.nodes.len() > 19));
        assert!(
            params
                .clone()
                .max_draws(Some(0))
                .fit_arrays(d.x.view(), &d.y, None)
                .is_err()
        );
    }

    #[test]
    fn speed_knobs_change_nothing() {
        let d = synthetic(3000, 6, 11);
        let fit = |local_bytes, packed_rows| {
            let tuning = Tuning {
                local_bytes,
                packed_rows,
            };
            small()
                .min_samples_leaf(5)
                .fit_tuned(d.x.view(), &d.y, None, tuning)
                .unwrap()
        };
        let reference = fit([0, 0], 0);
        // Subtrees grown from L3- and L2-sized copies, 21-bit packed or 64-bit counts.
        for (local_bytes, packed_rows) in [
            ([0, 300 * 6], 0),
            ([1500 * 6, 300 * 6], 0),
            ([0, 0], PACKED_ROWS),
            (LOCAL_BYTES, PACKED_ROWS),
        ] {
            let other = fit(local_bytes, packed_rows);
            assert_eq!(reference.trees, other.trees);
            assert_eq!(reference.importance, other.importance);
        }
    }

    #[test]
    fn class_weights_raise_the_minority_probability() {
        let d = synthetic(4000, 6, 4);
        let plain = small().fit_arrays(d.x.view(), &d.y, None).unwrap();
        let balanced = small()
            .class_weight(ClassWeight::Balanced)
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        let mean_pos = |f: &RandomForest| {
            let p = f.predict_proba(d.x.view());
            let pos: Vec<f64> = p
                .iter()
                .zip(&d.y)
                .filter(|(_, l)| **l)
                .map(|(v, _)| *v)
                .collect();
            pos.iter().sum::<f64>() / pos.len() as f64
        };
        let (a, b) = (mean_pos(&plain), mean_pos(&balanced));
        assert!(b > a + 0.2, "balanced {b} vs plain {a}");
    }

    #[test]
    fn sample_weights_act_like_class_weights() {
        let d = synthetic(3000, 5, 5);
        // Unit weights take the weighted code path and must give the very same forest.
        let ones = vec![1.0; 3000];
        let unweighted = small().fit_arrays(d.x.view(), &d.y, None).unwrap();
        let unit = small().fit_arrays(d.x.view(), &d.y, Some(&ones)).unwrap();
        assert_eq!(unweighted.trees, unit.trees);
        // Sample weights and class weights are one thing (weights exact in binary, so both code
        // paths round alike and even near-ties break the same way).
        let w: Vec<f64> = d.y.iter().map(|&l| if l { 4.0 } else { 0.5 }).collect();
        let by_sample = small().fit_arrays(d.x.view(), &d.y, Some(&w)).unwrap();
        let by_class = small()
            .class_weight(ClassWeight::Custom {
                negative: 0.5,
                positive: 4.0,
            })
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        assert_eq!(by_sample.trees, by_class.trees);
        assert_ne!(by_class.trees, unweighted.trees);
    }

    #[test]
    fn importances_rank_the_informative_features_first() {
        let d = synthetic(4000, 8, 6);
        let forest = small().fit_arrays(d.x.view(), &d.y, None).unwrap();
        let imp = forest.feature_importance();
        assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let mut order: Vec<usize> = (0..imp.len()).collect();
        order.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]));
        assert_eq!(&order[..2], &[0, 1], "importances {imp:?}");
    }

    #[test]
    fn missing_values_learn_their_own_direction() {
        // The label is exactly "x0 is missing": only a missing-vs-present split can find it.
        let n = 1000;
        let mut x = Array2::zeros((n, 2));
        let mut y = vec![false; n];
        for i in 0..n {
            x[[i, 0]] = if i % 4 == 0 { f64::NAN } else { (i % 7) as f64 };
            x[[i, 1]] = (i % 13) as f64;
            y[i] = i % 4 == 0;
        }
        // Both features at every node, so no tree is forced to spend its splits on x1 first.
        let params = small().max_features(MaxFeatures::All);
        let forest = params.fit_arrays(x.view(), &y, None).unwrap();
        let p = forest.predict_proba(x.view());
        for (v, l) in p.iter().zip(&y) {
            assert!(if *l { *v > 0.9 } else { *v < 0.1 }, "p {v} for label {l}");
        }
        // An all-NaN column is harmless.
        x.column_mut(1).fill(f64::NAN);
        let forest = params.fit_arrays(x.view(), &y, None).unwrap();
        assert!(forest.predict_proba(x.view()).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn linfa_traits_fit_and_predict() {
        let d = synthetic(2000, 5, 9);
        let y = Array1::from(d.y.clone());
        let weights = Array1::from_elem(2000, 2.0f32);
        let dataset = DatasetBase::new(d.x.clone(), y).with_weights(weights);
        let forest = small().fit(&dataset).unwrap();
        let probs: Array1<f64> = forest.predict(&d.x);
        assert_eq!(probs.to_vec(), forest.predict_proba(d.x.view()));
        // Uniform weights are no weights.
        let plain = small().fit_arrays(d.x.view(), &d.y, None).unwrap();
        assert_eq!(plain.predict_proba(d.x.view()), probs.to_vec());
    }

    #[test]
    fn column_major_input_gives_the_same_forest() {
        let d = synthetic(1500, 5, 12);
        let mut fortran = Array2::zeros(d.x.dim().f());
        fortran.assign(&d.x);
        let column_major = fortran.view();
        assert!(!column_major.is_standard_layout());
        let a = small().fit_arrays(d.x.view(), &d.y, None).unwrap();
        let b = small().fit_arrays(column_major, &d.y, None).unwrap();
        assert_eq!(a.trees, b.trees);
        assert_eq!(a.predict_proba(column_major), a.predict_proba(d.x.view()));
    }

    #[test]
    fn rejects_bad_input() {
        let d = synthetic(100, 3, 10);
        assert!(matches!(
            small().max_bins(1).fit_arrays(d.x.view(), &d.y, None),
            Err(ForestError::Params(_))
        ));
        assert!(matches!(
            small().fit_arrays(d.x.view(), &d.y[..50], None),
            Err(ForestError::Data(_))
        ));
        let w = vec![-1.0; 100];
        assert!(small().fit_arrays(d.x.view(), &d.y, Some(&w)).is_err());
    }

    #[test]
    fn bins_split_raw_values_like_binned_ones() {
        let mut values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
        values.extend([f64::NEG_INFINITY, f64::INFINITY, -0.0]);
        let x = Array2::from_shape_vec((values.len(), 1), values.clone()).unwrap();
        let edges = &Bins::fit(x.view(), 16, 0, 1).edges[0];
        assert!(edges.len() <= 15 && edges.windows(2).all(|w| w[0] < w[1]));
        for &v in &values {
            let bin = Bins::bin(edges, v);
            for (b, &e) in edges.iter().enumerate() {
                assert_eq!(bin as usize <= b, v <= e);
            }
        }
        let mut few = vec![0.0, 1.0, 1.0, 3.0];
        assert_eq!(edges_of(&mut few, 255), vec![0.5, 2.0]);
        assert_eq!(Bins::bin(&[0.5, 2.0], 3.0), 2);
        assert_eq!(Bins::bin(&[0.5, 2.0], f64::NAN), MISSING);
        // A constant feature has one bin and no edges.
        assert_eq!(Bins::bin(&[], 7.0), 0);
    }
}
