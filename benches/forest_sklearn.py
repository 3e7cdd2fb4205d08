"""scikit-learn's RandomForestClassifier on the data of `benches/forest.rs`, for comparison.

    cargo bench --bench forest -- csv 300000 80      # writes target/bench-data/forest-300000-80-*.csv
    python3 benches/forest_sklearn.py 300000 80            # sklearn defaults (fully grown trees)
    python3 benches/forest_sklearn.py 300000 80 --matched  # max_depth=14, min_samples_leaf=10
    python3 benches/forest_sklearn.py 300000 80 --depth 20 --leaf 40  # the Rust defaults
    python3 benches/forest_sklearn.py 300000 80 --seed 1   # another random_state (default 0)

Both: 100 trees, class_weight="balanced", n_jobs=2. Prints fit and predict time (wall and CPU),
PR-AUC (average precision) and ROC-AUC on the 100k test rows, and peak memory; the oracle's
PR-AUC (the true logit) checks that both sides score the same test set alike.
"""

import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, roc_auc_score


def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load(path, p):
    frame = pd.read_csv(path)
    x = frame[[f"x{j}" for j in range(p)]].to_numpy(np.float32)  # sklearn's trees use float32
    return x, frame["y"].to_numpy(bool), frame["logit"].to_numpy()


def main():
    n, p = int(sys.argv[1]), int(sys.argv[2])
    matched = "--matched" in sys.argv
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    base = Path(__file__).resolve().parent.parent / "target" / "bench-data" / f"forest-{n}-{p}"
    x, y, _ = load(f"{base}-train.csv", p)
    xt, yt, logit = load(f"{base}-test.csv", p)
    extra = dict(max_depth=14, min_samples_leaf=10) if matched else {}
    if "--depth" in sys.argv:  # e.g. the Rust forest's defaults: --depth 20 --leaf 40
        extra = dict(
            max_depth=int(sys.argv[sys.argv.index("--depth") + 1]),
            min_samples_leaf=int(sys.argv[sys.argv.index("--leaf") + 1]),
        )
    model = RandomForestClassifier(
        n_estimators=100, class_weight="balanced", n_jobs=2, random_state=seed, **extra
    )
    before = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    prob = model.predict_proba(xt)[:, 1]
    pred_wall, pred_cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    nodes = sum(t.tree_.node_count for t in model.estimators_)
    print(
        f"sklearn {n:>7}x{p:<3} {extra or 'defaults'} seed {seed}  "
        f"fit {fit_wall:6.2f} s (cpu {fit_cpu:.1f} s)  predict {len(yt)} {pred_wall:5.2f} s "
        f"(cpu {pred_cpu:.1f} s)  PR-AUC {average_precision_score(yt, prob):.4f}  "
        f"ROC-AUC {roc_auc_score(yt, prob):.4f}  (oracle PR-AUC "
        f"{average_precision_score(yt, logit):.4f})  nodes {nodes}  "
        f"RSS before fit {before:.0f} MB, peak {peak:.0f} MB"
    )
    ours = Path(f"{base}-ours.txt")
    if ours.exists():
        prob = np.loadtxt(ours)
        print(
            f"ours (last `cargo bench --bench forest -- ours {n} {p}`) scored here: "
            f"PR-AUC {average_precision_score(yt, prob):.4f}  ROC-AUC {roc_auc_score(yt, prob):.4f}"
        )


if __name__ == "__main__":
    main()
