//! Escalation forest benchmark: fit and predict time, PR-AUC and peak memory of
//! `cge::models::forest` on synthetic escalation-like data, each size in its own process.
//!
//! - `cargo bench --bench forest`: the forest at 100k×60, 300k×80 and 500k×80 training rows
//!   (`CGE_FOREST_SIZES=100000x60,600000x100` to choose), tested on 100k fresh rows, with
//!   balanced class weights and otherwise default parameters (`CGE_FOREST_DEPTH`, `_LEAF`,
//!   `_SAMPLES`, `_BINS`, `_SEED`, `_TREES` override them for sweeps). Wall and CPU seconds are
//!   both printed: on a shared machine only CPU seconds compare from run to run.
//! - `cargo bench --bench forest -- linfa N P TREES [subset]`: `linfa-trees` `DecisionTree` bagged
//!   by hand (bootstrap rows; with `subset`, √p features per tree as `linfa-ensemble` does),
//!   with leaf probabilities recovered by routing each tree's sample back through it.
//! - `cargo bench --bench forest -- csv N P`: writes the same data to
//!   `target/bench-data/forest-N-P-{train,test}.csv` for `benches/forest_sklearn.py`.
//!
//! The data: 6 informative columns of mixed kinds (normal, count, binary, uniform; two with
//! missing values) with an interaction, a threshold and a sine in the true logit, the rest noise
//! of the same kinds; the intercept is set for 5% positives.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cge::models::forest::{ClassWeight, RandomForest};
use cge::models::metrics::{pr_auc, roc_auc};
use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TEST_ROWS: usize = 100_000;

struct Data {
    x: Array2<f64>,
    y: Vec<bool>,
    logit: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.random(), rng.random());
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn count(rng: &mut ChaCha8Rng) -> f64 {
    (1.0 + normal(rng)).exp().floor()
}

fn maybe_missing(rng: &mut ChaCha8Rng, v: f64, rate: f64) -> f64 {
    if rng.random::<f64>() < rate {
        f64::NAN
    } else {
        v
    }
}

/// `n` rows × `p` columns; the same `seed` gives the same rows whatever `n`.
fn synthetic(n: usize, p: usize, seed: u64) -> Data {
    assert!(p >= 6);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, p));
    let mut z = Vec::with_capacity(n);
    for mut row in x.rows_mut() {
        let (x0, x1, x2) = (normal(&mut rng), normal(&mut rng), count(&mut rng));
        let x3 = f64::from(rng.random::<f64>() < 0.3);
        let (x4, x5) = (rng.random::<f64>(), normal(&mut rng));
        z.push(
            1.2 * x0 - 0.8 * x1
                + 0.6 * x3 * (1.0 + x2).ln()
                + if x4 > 0.85 { 1.0 } else { 0.0 }
                + 0.5 * (3.0 * x5).sin(),
        );
        row[0] = x0;
        row[1] = maybe_missing(&mut rng, x1, 0.15);
        row[2] = x2;
        row[3] = x3;
        row[4] = x4;
        row[5] = maybe_missing(&mut rng, x5, 0.3);
        for j in 6..p {
            row[j] = match j % 4 {
                0 => normal(&mut rng),
                1 => count(&mut rng),
                2 => f64::from(rng.random::<f64>() < 0.2),
                _ => {
                    let v = normal(&mut rng);
                    maybe_missing(&mut rng, v, 0.2)
                }
            };
        }
    }
    // Intercept for a 5% base rate, fixed from a reference sample so train and test agree.
    let intercept = {
        let mut r = ChaCha8Rng::seed_from_u64(99);
        let zs: Vec<f64> = (0..20_000)
            .map(|_| {
                let (x0, x1, x2) = (normal(&mut r), normal(&mut r), count(&mut r));
                let x3 = f64::from(r.random::<f64>() < 0.3);
                let (x4, x5) = (r.random::<f64>(), normal(&mut r));
                1.2 * x0 - 0.8 * x1
                    + 0.6 * x3 * (1.0 + x2).ln()
                    + if x4 > 0.85 { 1.0 } else { 0.0 }
                    + 0.5 * (3.0 * x5).sin()
            })
            .collect();
        let (mut lo, mut hi) = (-20.0, 0.0);
        for _ in 0..60 {
            let a = (lo + hi) / 2.0;
            let rate = zs.iter().map(|z| sigmoid(a + z)).sum::<f64>() / zs.len() as f64;
            if rate > 0.05 { hi = a } else { lo = a }
        }
        lo
    };
    let logit: Vec<f64> = z.iter().map(|z| intercept + z).collect();
    let y = logit
        .iter()
        .map(|&l| rng.random::<f64>() < sigmoid(l))
        .collect();
    Data { x, y, logit }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (current, peak) resident memory of this process in MB (Linux; 0 elsewhere).
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system) this process has used so far: comparable when the machine is
/// shared, where wall time is not.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    if f.len() > 12 {
        (f[11] + f[12]) / 100.0
    } else {
        0.0
    }
}

fn datasets(n: usize, p: usize) -> (Data, Data) {
    (synthetic(n, p, 1), synthetic(TEST_ROWS, p, 2))
}

fn ours(n: usize, p: usize) {
    let (train, test) = datasets(n, p);
    let positives = train.y.iter().filter(|&&l| l).count();
    let (rss_before, _) = memory_mb();
    let mut params = RandomForest::params().class_weight(ClassWeight::Balanced);
    // Overrides for sweeps: CGE_FOREST_DEPTH, _LEAF, _SAMPLES, _BINS, _SEED, _TREES.
    let var = |name: &str| std::env::var(format!("CGE_FOREST_{name}")).ok();
    if let Some(v) = var("DEPTH") {
        params.max_depth = v.parse().unwrap();
    }
    if let Some(v) = var("LEAF") {
        params.min_samples_leaf = v.parse().unwrap();
    }
    if let Some(v) = var("SAMPLES") {
        params.max_samples = v.parse().unwrap();
    }
    if let Some(v) = var("BINS") {
        params.max_bins = v.parse().unwrap();
    }
    if let Some(v) = var("SEED") {
        params.seed = v.parse().unwrap();
    }
    if let Some(v) = var("TREES") {
        params.n_trees = v.parse().unwrap();
    }
    let (t, c) = (Instant::now(), cpu_s());
    let forest = params.fit_arrays(train.x.view(), &train.y, None).unwrap();
    let (fit, fit_cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let (_, peak_fit) = memory_mb();
    let (t, c) = (Instant::now(), cpu_s());
    let probs = forest.predict_proba(test.x.view());
    let (predict, predict_cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    // Saved for benches/forest_sklearn.py to score both models with one implementation.
    let path = data_dir().join(format!("forest-{n}-{p}-ours.txt"));
    let text: String = probs.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(path, text).unwrap();
    let imp = forest.feature_importance();
    let mut top: Vec<usize> = (0..p).collect();
    top.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]));
    println!(
        "ours   {n:>7}×{p:<3} ({positives} pos) depth {} leaf {} samples {} bins {}  fit {fit:6.2} s (cpu {fit_cpu:.1} s)  \
         predict {TEST_ROWS} {predict:5.2} s (cpu {predict_cpu:.1} s)  \
         PR-AUC {:.4}  ROC-AUC {:.4}  (oracle PR-AUC {:.4})  nodes {}  \
         RSS before fit {rss_before:.0} MB, peak {peak_fit:.0} MB  top features {:?}",
        params.max_depth,
        params.min_samples_leaf,
        params.max_samples,
        params.max_bins,
        pr_auc(&probs, &test.y).unwrap(),
        roc_auc(&probs, &test.y).unwrap(),
        pr_auc(&test.logit, &test.y).unwrap(),
        forest.n_nodes(),
        &top[..6],
    );
}

/// Weighted positive fraction per leaf, found by routing the tree's own sample through it
/// (`linfa-trees` leaves keep only the majority label); keyed by the leaf's address.
fn leaf_fractions(
    tree: &DecisionTree<f64, bool>,
    x: ArrayView2<f64>,
    y: &[bool],
    w: &[f32],
) -> HashMap<usize, f64> {
    let mut sums: HashMap<usize, (f64, f64)> = HashMap::new();
    for (i, row) in x.rows().into_iter().enumerate() {
        let leaf = route(tree.root_node(), row);
        let e = sums.entry(address(leaf)).or_default();
        e.0 += f64::from(w[i]);
        if y[i] {
            e.1 += f64::from(w[i]);
        }
    }
    sums.into_iter().map(|(k, (w, p))| (k, p / w)).collect()
}

fn address(node: &TreeNode<f64, bool>) -> usize {
    node as *const TreeNode<f64, bool> as usize
}

fn route<'a>(
    mut node: &'a TreeNode<f64, bool>,
    row: ndarray::ArrayView1<f64>,
) -> &'a TreeNode<f64, bool> {
    // linfa-trees predicts with `<` (and fits with `<=`); follow its prediction.
    while !node.is_leaf() {
        let (f, v, _) = node.split();
        let children = node.children();
        let next = if row[f] < v { children[0] } else { children[1] };
        node = next.as_deref().unwrap();
    }
    node
}

/// A tree's columns, the tree, and its leaves' positive fractions by leaf address.
type BaggedTree = (Vec<usize>, DecisionTree<f64, bool>, HashMap<usize, f64>);

fn linfa(n: usize, p: usize, trees: usize, subset: bool) {
    let (train, test) = datasets(n, p);
    // linfa-trees sorts with `partial_cmp(..).unwrap_or(Greater)`: NaN must be imputed.
    let impute = |x: &Array2<f64>| x.mapv(|v| if v.is_nan() { 0.0 } else { v });
    let (xtr, xte) = (impute(&train.x), impute(&test.x));
    let pos = train.y.iter().filter(|&&l| l).count() as f64;
    // Balancing weights as integers: linfa-trees sums class weights in f32 and, with fractional
    // weights on 100k rows, rounding drives a node's total to 0 and trips its assertion
    // `n_samples > 0.0`.
    let (wp, wn) = (((n as f64 - pos) / pos).round(), 1.0);
    let mtry = (p as f64).sqrt().round() as usize;
    let (t, c) = (Instant::now(), cpu_s());
    let fitted: Vec<BaggedTree> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|worker| {
                let (xtr, train) = (&xtr, &train);
                s.spawn(move || {
                    let mut out = Vec::new();
                    for k in (worker..trees).step_by(2) {
                        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
                        let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
                        let cols: Vec<usize> = if subset {
                            rand::seq::index::sample(&mut rng, p, mtry).into_vec()
                        } else {
                            (0..p).collect()
                        };
                        let x = xtr.select(Axis(0), &rows).select(Axis(1), &cols);
                        let y: Vec<bool> = rows.iter().map(|&r| train.y[r]).collect();
                        let w: Vec<f32> =
                            y.iter().map(|&l| if l { wp } else { wn } as f32).collect();
                        let ds = DatasetBase::new(x.clone(), Array1::from(y.clone()))
                            .with_weights(Array1::from(w.clone()));
                        let tree = DecisionTree::params()
                            .max_depth(Some(14))
                            .min_weight_leaf(10.0)
                            .fit(&ds)
                            .unwrap();
                        let leaves = leaf_fractions(&tree, x.view(), &y, &w);
                        out.push((cols, tree, leaves));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let (fit, fit_cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
    let (mut probs, mut votes) = (vec![0.0; TEST_ROWS], vec![0.0; TEST_ROWS]);
    for (cols, tree, leaves) in &fitted {
        let x = xte.select(Axis(1), cols);
        let labels: Array1<bool> = tree.predict(&x);
        for (i, row) in x.rows().into_iter().enumerate() {
            probs[i] += leaves[&address(route(tree.root_node(), row))];
            votes[i] += f64::from(u8::from(labels[i]));
        }
    }
    let (_, peak) = memory_mb();
    println!(
        "linfa  {n:>7}×{p:<3} {trees} trees{}  fit {fit:7.2} s on 2 threads (cpu {fit_cpu:.1} s, \
         {:.2} cpu s per tree, 100 trees ≈ {:.0} s on 2 threads)  PR-AUC leaf fractions {:.4}, majority votes {:.4}  peak {peak:.0} MB",
        if subset {
            " (√p features per tree)"
        } else {
            " (all features)"
        },
        fit_cpu / trees as f64,
        fit_cpu * 50.0 / trees as f64,
        pr_auc(&probs, &test.y).unwrap(),
        pr_auc(&votes, &test.y).unwrap(),
    );
}

fn csv(n: usize, p: usize) {
    let (train, test) = datasets(n, p);
    for (name, d) in [("train", &train), ("test", &test)] {
        let path = data_dir().join(format!("forest-{n}-{p}-{name}.csv"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let header: Vec<String> = (0..p).map(|j| format!("x{j}")).collect();
        writeln!(out, "{},y,logit", header.join(",")).unwrap();
        for (i, row) in d.x.rows().into_iter().enumerate() {
            for v in row {
                if !v.is_nan() {
                    write!(out, "{v}").unwrap();
                }
                out.write_all(b",").unwrap();
            }
            writeln!(out, "{},{}", u8::from(d.y[i]), d.logit[i]).unwrap();
        }
        println!("wrote {}", path.display());
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize| -> usize { args[i].parse().expect("a number") };
    match args.first().map(String::as_str) {
        Some("ours") => ours(num(1), num(2)),
        Some("linfa") => linfa(
            num(1),
            num(2),
            num(3),
            args.get(4).is_some_and(|a| a == "subset"),
        ),
        Some("csv") => csv(num(1), num(2)),
        Some(other) => panic!("unknown mode {other}"),
        None => {
            let sizes = std::env::var("CGE_FOREST_SIZES")
                .unwrap_or_else(|_| "100000x60,300000x80,500000x80".into());
            let me = std::env::current_exe().unwrap();
            for size in sizes.split(',') {
                let (n, p) = size
                    .trim()
                    .split_once('x')
                    .expect("CGE_FOREST_SIZES: NxP,...");
                let status = Command::new(&me).args(["ours", n, p]).status().unwrap();
                assert!(status.success(), "forest {size} failed");
            }
        }
    }
}
