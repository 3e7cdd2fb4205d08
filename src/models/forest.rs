//! Histogram-binned random forest: the escalation model's learner.
//!
//! Why hand-written rather than `linfa-trees`/`linfa-ensemble`: see `benches/forest.rs`.
//!
//! How it stays fast: every feature is binned once into at most 255 quantile bins plus a bin
//! of its own for missing values (row-major `u8`, so a node's sampled features for one row sit
//! in one or two cache lines); a node's split search is a pass over its rows adding weights into
//! per-feature histograms and a scan over the bins that were touched (a bitmap keeps the scan
//! and the reset proportional to the node, not to 256). Trees grow on 2 threads, each from its
//! own seeded stream, so the forest is the same for a seed whatever the scheduling.

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
const LEAF: u32 = u32::MAX;
/// Rows sampled per feature to place the quantile edges (as scikit-learn's histogram GBM).
const BIN_SAMPLE: usize = 200_000;

/// Features tried at each node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxFeatures {
    /// `round(sqrt(p))`, the usual classification default.
    Sqrt,
    /// `round(log2(p))`.
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
            MaxFeatures::Sqrt => (p as f64).sqrt().round() as usize,
            MaxFeatures::Log2 => (p as f64).log2().round() as usize,
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
    /// Threads for fitting and predicting; 0 means all available cores.
    pub n_threads: usize,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_features: MaxFeatures::Sqrt,
            max_depth: 14,
            min_samples_leaf: 10,
            max_bins: 255,
            criterion: Criterion::Gini,
            class_weight: ClassWeight::None,
            bootstrap: true,
            max_samples: 1.0,
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
        n_threads: usize,
        seed: u64,
    );

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
            prior,
            mtry: self.max_features.resolve(p),
            params: self,
        };
        let grown = run_indexed(
            self.n_trees,
            threads,
            || Scratch::new(n, p, grower.mtry),
            |t, s| grower.grow(t, s),
        );

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

/// One node: an internal node sends `x[feature] <= threshold` (or a missing value when
/// `missing_left`) to `left`, the rest to `left + 1`; a leaf keeps its positive fraction in
/// `threshold`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Node {
    threshold: f64,
    feature: u32,
    left: u32,
    missing_left: bool,
}

impl Node {
    fn leaf(value: f64) -> Node {
        Node {
            threshold: value,
            feature: LEAF,
            left: 0,
            missing_left: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    #[inline]
    fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0usize;
        loop {
            let node = &self.nodes[i];
            if node.feature == LEAF {
                return node.threshold;
            }
            let v = row[node.feature as usize];
            let left = if v.is_nan() {
                node.missing_left
            } else {
                v <= node.threshold
            };
            i = node.left as usize + usize::from(!left);
        }
    }
}

/// Histogram cell and row payload: weight, positive weight, distinct rows.
type Cell = [f64; 3];

fn add(a: &mut Cell, b: &Cell) {
    a[0] += b[0];
    a[1] += b[1];
    a[2] += b[2];
}

fn sub(a: &Cell, b: &Cell) -> Cell {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Per-thread buffers, reused from tree to tree.
struct Scratch {
    counts: Vec<u32>,
    idx: Vec<u32>,
    rows: Vec<Cell>,
    idx_tmp: Vec<u32>,
    rows_tmp: Vec<Cell>,
    /// `mtry × 256` cells, all zero between nodes.
    hist: Vec<Cell>,
    /// Which bins of each slot's histogram were touched.
    touched: Vec<[u64; 4]>,
    features: Vec<u32>,
}

impl Scratch {
    fn new(n: usize, p: usize, mtry: usize) -> Scratch {
        Scratch {
            counts: vec![0; n],
            idx: Vec::with_capacity(n),
            rows: Vec::with_capacity(n),
            idx_tmp: vec![0; n],
            rows_tmp: vec![[0.0; 3]; n],
            hist: vec![[0.0; 3]; mtry * HIST],
            touched: vec![[0; 4]; mtry],
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
    base: &'a [f64],
    prior: f64,
    mtry: usize,
    params: &'a ForestParams,
}

#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: u8,
    missing_left: bool,
    left: Cell,
}

struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    total: Cell,
}

impl Grower<'_> {
    /// Weighted impurity of a node times its weight (Gini without the constant factor 2).
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

    fn grow(&self, t: usize, s: &mut Scratch) -> (Tree, Vec<f64>) {
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
            let draws = ((params.max_samples * self.n as f64).round() as usize).max(1);
            for _ in 0..draws {
                s.counts[rng.random_range(0..self.n)] += 1;
            }
        } else {
            s.counts.fill(1);
        }
        s.idx.clear();
        s.rows.clear();
        let mut total = [0.0; 3];
        for (r, &c) in s.counts.iter().enumerate() {
            let w = c as f64 * self.base[r];
            if w > 0.0 {
                let cell = [w, if self.y[r] { w } else { 0.0 }, 1.0];
                add(&mut total, &cell);
                s.idx.push(r as u32);
                s.rows.push(cell);
            }
        }
        let mut importance = vec![0.0; self.p];
        if s.idx.is_empty() {
            return (
                Tree {
                    nodes: vec![Node::leaf(self.prior)],
                },
                importance,
            );
        }

        let mut nodes = vec![Node::leaf(0.0)];
        let mut stack = vec![Pending {
            node: 0,
            start: 0,
            end: s.idx.len(),
            depth: 0,
            total,
        }];
        let msl = params.min_samples_leaf as f64;
        while let Some(job) = stack.pop() {
            let tot = job.total;
            let pure = tot[1] <= 0.0 || tot[1] >= tot[0];
            let split = if pure || job.depth >= params.max_depth || tot[2] < 2.0 * msl {
                None
            } else {
                self.best_split(s, &mut rng, job.start, job.end, &tot)
            };
            let Some(split) = split else {
                nodes[job.node] = Node::leaf((tot[1] / tot[0]).clamp(0.0, 1.0));
                continue;
            };
            importance[split.feature] += split.gain;
            let mid = self.partition(s, job.start, job.end, &split);
            debug_assert_eq!((mid - job.start) as f64, split.left[2]);
            let left = nodes.len();
            nodes.push(Node::leaf(0.0));
            nodes.push(Node::leaf(0.0));
            let edges = &self.edges[split.feature];
            nodes[job.node] = Node {
                threshold: edges
                    .get(split.bin as usize)
                    .copied()
                    .unwrap_or(f64::INFINITY),
                feature: split.feature as u32,
                left: left as u32,
                missing_left: split.missing_left,
            };
            let depth = job.depth + 1;
            stack.push(Pending {
                node: left + 1,
                start: mid,
                end: job.end,
                depth,
                total: sub(&tot, &split.left),
            });
            stack.push(Pending {
                node: left,
                start: job.start,
                end: mid,
                depth,
                total: split.left,
            });
        }
        (Tree { nodes }, importance)
    }

    /// Best split over a random subset of `mtry` features; when none of them can split the
    /// node, further features are drawn until one can or all were tried (as scikit-learn).
    fn best_split(
        &self,
        s: &mut Scratch,
        rng: &mut ChaCha8Rng,
        start: usize,
        end: usize,
        tot: &Cell,
    ) -> Option<Split> {
        let p = self.p;
        let parent = self.impurity(tot);
        let mut best: Option<Split> = None;
        let mut best_gain = parent * 1e-9;
        let mut drawn = 0;
        while drawn < p && best.is_none() {
            let batch = self.mtry.min(p - drawn);
            for i in drawn..drawn + batch {
                let j = rng.random_range(i..p);
                s.features.swap(i, j);
            }
            let feats = &s.features[drawn..drawn + batch];
            drawn += batch;

            // Histograms of the batch's features over the node's rows.
            for k in start..end {
                let r = s.idx[k] as usize;
                let row = &self.binned[r * p..(r + 1) * p];
                let cell = s.rows[k];
                for (slot, &f) in feats.iter().enumerate() {
                    let b = row[f as usize] as usize;
                    add(&mut s.hist[slot * HIST + b], &cell);
                    s.touched[slot][b >> 6] |= 1 << (b & 63);
                }
            }

            // Scan the touched bins in order, clearing them behind us.
            let msl = self.params.min_samples_leaf as f64;
            for (slot, &f) in feats.iter().enumerate() {
                let hist = &mut s.hist[slot * HIST..(slot + 1) * HIST];
                let bits = std::mem::take(&mut s.touched[slot]);
                let missing = if bits[3] >> 63 != 0 {
                    std::mem::take(&mut hist[MISSING as usize])
                } else {
                    [0.0; 3]
                };
                let mut cum = [0.0; 3];
                for (word, mut w) in bits.into_iter().enumerate() {
                    while w != 0 {
                        let b = word * 64 + w.trailing_zeros() as usize;
                        w &= w - 1;
                        if b == MISSING as usize {
                            continue;
                        }
                        add(&mut cum, &std::mem::take(&mut hist[b]));
                        for missing_left in [false, true] {
                            if missing_left && missing[2] == 0.0 {
                                continue;
                            }
                            let mut left = cum;
                            if missing_left {
                                add(&mut left, &missing);
                            }
                            let right = sub(tot, &left);
                            if left[2] < msl || right[2] < msl {
                                continue;
                            }
                            let gain = parent - self.impurity(&left) - self.impurity(&right);
                            if gain > best_gain {
                                best_gain = gain;
                                best = Some(Split {
                                    gain,
                                    feature: f as usize,
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

    /// Stable partition of the node's rows (left rows first), keeping row order ascending so
    /// the histogram pass reads the binned matrix front to back.
    fn partition(&self, s: &mut Scratch, start: usize, end: usize, split: &Split) -> usize {
        let p = self.p;
        let (mut nl, mut nr) = (start, 0);
        for k in start..end {
            let r = s.idx[k];
            let b = self.binned[r as usize * p + split.feature];
            let left = if b == MISSING {
                split.missing_left
            } else {
                b <= split.bin
            };
            let cell = s.rows[k];
            if left {
                s.idx[nl] = r;
                s.rows[nl] = cell;
                nl += 1;
            } else {
                s.idx_tmp[nr] = r;
                s.rows_tmp[nr] = cell;
                nr += 1;
            }
        }
        s.idx[nl..end].copy_from_slice(&s.idx_tmp[..nr]);
        s.rows[nl..end].copy_from_slice(&s.rows_tmp[..nr]);
        nl
    }
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
        std::thread::scope(|s| {
            for (c, part) in out.chunks_mut(chunk).enumerate() {
                s.spawn(move || {
                    let mut buf = vec![0.0; self.n_features];
                    for (k, o) in part.iter_mut().enumerate() {
                        let row = x.row(c * chunk + k);
                        let row = match row.as_slice() {
                            Some(r) => r,
                            None => {
                                buf.iter_mut().zip(row.iter()).for_each(|(b, v)| *b = *v);
                                &buf
                            }
                        };
                        *o = self.trees.iter().map(|t| t.predict(row)).sum::<f64>() * scale;
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
    use ndarray::Array2;

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
        let pos = d.y.iter().filter(|&&l| l).count() as f64;
        let (wp, wn) = (1500.0 / pos, 1500.0 / (3000.0 - pos));
        let w: Vec<f64> = d.y.iter().map(|&l| if l { wp } else { wn }).collect();
        let by_sample = small().fit_arrays(d.x.view(), &d.y, Some(&w)).unwrap();
        let by_class = small()
            .class_weight(ClassWeight::Balanced)
            .fit_arrays(d.x.view(), &d.y, None)
            .unwrap();
        let (a, b) = (
            by_sample.predict_proba(d.x.view()),
            by_class.predict_proba(d.x.view()),
        );
        let diff = a
            .iter()
            .zip(&b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-9, "max difference {diff}");
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
        let forest = small().fit_arrays(x.view(), &y, None).unwrap();
        let p = forest.predict_proba(x.view());
        for (v, l) in p.iter().zip(&y) {
            assert!(if *l { *v > 0.9 } else { *v < 0.1 }, "p {v} for label {l}");
        }
        // An all-NaN column is harmless.
        x.column_mut(1).fill(f64::NAN);
        let forest = small().fit_arrays(x.view(), &y, None).unwrap();
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
        let edges = edges_of(&mut values, 16);
        assert!(edges.len() <= 15 && edges.windows(2).all(|w| w[0] < w[1]));
        for b in 0..edges.len() {
            for &v in &values {
                assert_eq!(Bins::bin(&edges, v) as usize <= b, v <= edges[b]);
            }
        }
        let mut few = vec![0.0, 1.0, 1.0, 3.0];
        assert_eq!(edges_of(&mut few, 255), vec![0.5, 2.0]);
        assert_eq!(Bins::bin(&[0.5, 2.0], f64::NAN), MISSING);
    }
}
