//! Scale benchmark: simulate, golden record, usage windows (polars vs SQLite), the TUI, the
//! cross-sell model and the whole `cge run` (its stages timed one by one: snapshots, the
//! backtest's churn and escalation models, today's, scoring, cross-sell) at 10,000 and
//! 100,000 accounts, each stage in its own process so peak memory is its own.
//!
//! `cargo bench --bench scale` (set `CGE_BENCH_SCALES=1000,10000` to choose sizes).
//! Workspaces are kept in `target/bench-data/` between stages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cge::features;
use cge::simulate::{SimConfig, simulate};
use cge::workspace::Workspace;
use chrono::NaiveDate;

// The allocator `cge` itself uses (see src/main.rs), so peak memory is the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
}

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn workspace(n: usize) -> PathBuf {
    data_dir().join(format!("sim-{n}.db"))
}

/// Peak resident memory of this process in MB (Linux; 0 elsewhere).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn report(stage: &str, n: usize, secs: f64, extra: &str) {
    println!(
        "{stage:<28} {n:>8} accounts  {secs:>8.2} s  peak {:>7.0} MB  {extra}",
        peak_mb()
    );
}

fn stage(name: &str, n: usize) {
    let path = workspace(n);
    match name {
        "simulate" => {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
            }
            let mut ws = Workspace::open(&path).unwrap();
            let t = Instant::now();
            let r = simulate(&mut ws, &SimConfig::new(n, 42, as_of()), false).unwrap();
            report(
                "simulate",
                n,
                t.elapsed().as_secs_f64(),
                &format!("{} usage rows, {} subscriptions", r.usage, r.subscriptions),
            );
        }
        "features" => {
            let mut ws = Workspace::open(&path).unwrap();
            let t = Instant::now();
            let gr = features::build(&mut ws, as_of()).unwrap();
            report(
                "golden record (build+store)",
                n,
                t.elapsed().as_secs_f64(),
                &format!("{} rows", gr.len()),
            );
            let t = Instant::now();
            let gr = features::load(&ws, as_of()).unwrap().unwrap();
            report(
                "golden record (load only)",
                n,
                t.elapsed().as_secs_f64(),
                &format!("{} rows", gr.len()),
            );
        }
        "windows" => {
            let ws = Workspace::open(&path).unwrap();
            let as_of = as_of().format("%Y-%m-%d").to_string();
            let t = Instant::now();
            let rows = features::usage::windows_rows(ws.conn(), &as_of)
                .unwrap()
                .len();
            report(
                "usage windows: one read, one pass",
                n,
                t.elapsed().as_secs_f64(),
                &format!("{rows} accounts"),
            );
            let t = Instant::now();
            let rows = features::usage::baseline_rows(ws.conn(), &as_of).unwrap();
            report(
                "usage windows: SQLite",
                n,
                t.elapsed().as_secs_f64(),
                &format!("{} accounts", rows.len()),
            );
        }
        "tui" => tui(n),
        "crosssell" => crosssell(n),
        "run" => run(n),
        other => panic!("unknown stage {other}"),
    }
}

/// The TUI on the newest stored run, as `cge` opens it: the time from an open workspace
/// to the first frame with rows, then sort, filter and frame times on the whole book.
fn tui(n: usize) {
    use cge::tui::{Action, App, Config, Opening, book::COLUMNS, opening};
    use ratatui::{Terminal, backend::TestBackend};
    let path = workspace(n);
    let t = Instant::now();
    let ws = Workspace::open_existing(&path).unwrap();
    let first = opening(&ws).unwrap();
    let open_s = t.elapsed().as_secs_f64();
    let Opening::Scored { run, .. } = first else {
        panic!(
            "run the run stage first: no stored run in {}",
            path.display()
        )
    };
    let mut app = App::new(Config::builtin(false), &path, data_dir());
    app.update(Action::Resize(160, 50));
    app.set_run(&run).unwrap();
    let mut term = Terminal::new(TestBackend::new(160, 50)).unwrap();
    term.draw(|f| cge::tui::ui::draw(f, &app)).unwrap();
    let first_s = t.elapsed().as_secs_f64();
    let shown = app.book.as_ref().unwrap().len();
    drop(run);
    report(
        "tui: first screen",
        n,
        first_s,
        &format!("read the preview {:.0} ms, {shown} rows", open_s * 1e3),
    );
    // What the loader thread does next: the whole book, swapped in.
    let t = Instant::now();
    let ws = Workspace::open_existing(&path).unwrap();
    for req in app.take_requests() {
        let loaded = cge::tui::loader::serve(Some(&ws), req);
        app.on_loaded(loaded);
    }
    let book = app.book.as_ref().unwrap();
    assert!(!book.is_preview(), "the whole book swapped in");
    report(
        "tui: whole book (loader)",
        n,
        t.elapsed().as_secs_f64(),
        &format!(
            "{} active rows, {:.0} MB in the frame",
            book.len(),
            book.frame().estimated_size() as f64 / 1048576.0
        ),
    );
    let column = |key: &str| COLUMNS.iter().position(|c| c.key == key).unwrap();
    let reps = 20;
    let mut sort_ms = Vec::new();
    for key in [
        "churn_probability",
        "total_arr",
        "account_name",
        "engagement_level",
    ] {
        let t = Instant::now();
        for i in 0..reps {
            app.update(if i % 2 == 0 {
                Action::SortBy(column(key))
            } else {
                Action::SortReverse
            });
        }
        sort_ms.push(format!(
            "{key} {:.1}",
            t.elapsed().as_secs_f64() * 1000.0 / reps as f64
        ));
    }
    let t = Instant::now();
    for _ in 0..reps {
        app.update(Action::FilterMenu);
        app.update(Action::Down); // next best action
        app.update(Action::Confirm);
        app.update(Action::Confirm);
        app.update(Action::PopFilter);
    }
    let filter_ms = t.elapsed().as_secs_f64() * 1000.0 / (2 * reps) as f64;
    let frames = 200;
    let t = Instant::now();
    for i in 0..frames {
        app.update(if i % 2 == 0 {
            Action::PageDown
        } else {
            Action::Down
        });
        term.draw(|f| cge::tui::ui::draw(f, &app)).unwrap();
    }
    let frame_ms = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    // The model report with the map of every account in the view.
    app.update(Action::Report);
    let t = Instant::now();
    for i in 0..20 {
        app.update(if i % 2 == 0 { Action::Down } else { Action::Up });
        term.draw(|f| cge::tui::ui::draw(f, &app)).unwrap();
    }
    let report_ms = t.elapsed().as_secs_f64() * 1000.0 / 20.0;
    report(
        "tui: sort / filter / frame",
        n,
        0.0,
        &format!(
            "sort ms: {}; filter {filter_ms:.1} ms; frame {frame_ms:.2} ms, report with the map {report_ms:.1} ms (160x50)",
            sort_ms.join(", ")
        ),
    );
}

/// The cross-sell model on the stored golden record: fit, scores, recommendations,
/// lookalikes, evaluation, the map; and the SVD's Gram route against linfa-linalg's exact SVD.
/// `cge run` as the command runs it, timed from one progress stage to the next.
fn run(n: usize) {
    use cge::job::Reporter;
    use cge::pipeline::{execute, run::RunOptions};
    use std::sync::{Arc, Mutex};
    let mut ws = Workspace::open(&workspace(n)).unwrap();
    let marks: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let sink = marks.clone();
    let reporter = Reporter::with(move |p| {
        let mut m = sink.lock().unwrap();
        // A stage's later messages (e.g. each month-end's record) stay in that stage.
        if m.last().is_none_or(|(s, _)| *s != p.stage) {
            m.push((p.stage.clone(), Instant::now()));
        }
    });
    let t = Instant::now();
    let (_, r) = execute(&mut ws, &RunOptions::default(), &reporter).unwrap();
    let total = t.elapsed().as_secs_f64();
    let m = marks.lock().unwrap();
    for w in m.windows(2) {
        let secs = (w[1].1 - w[0].1).as_secs_f64();
        report(&format!("run: {}", w[0].0), n, secs, "");
    }
    let esc = r
        .escalation
        .as_ref()
        .and_then(|e| e.backtest.pr_auc)
        .unwrap_or(f64::NAN);
    let churn = r.churn.backtest.pr_auc.unwrap_or(f64::NAN);
    report(
        "run (total)",
        n,
        total,
        &format!(
            "{} scored; backtest PR-AUC churn {:.3} (base {:.3}), escalation {esc:.3}",
            r.accounts_scored, churn, r.churn.backtest.base_rate
        ),
    );
}

fn crosssell(n: usize) {
    use cge::models::{crosssell, map};
    use linfa_linalg::svd::{SVD, SvdSort};
    let ws = Workspace::open(&workspace(n)).unwrap();
    let t = Instant::now();
    let usage = features::per_feature::matrix(ws.conn(), as_of(), 90).unwrap();
    report(
        "cross-sell: usage matrix",
        n,
        t.elapsed().as_secs_f64(),
        &format!("{} x {}", usage.account_ids.len(), usage.n_features()),
    );
    let gr = features::load(&ws, as_of())
        .unwrap()
        .expect("run the features stage first");
    let active = crosssell::active_rows(&usage, &gr).unwrap();

    let t = Instant::now();
    let model = crosssell::fit(&usage, Some(&active), &crosssell::Params::default()).unwrap();
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let scores = model.hybrid_scores(&gr).unwrap();
    let score_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let recs: usize = (0..model.account_ids.len())
        .map(|r| model.recommend_row(r, 3).len())
        .sum();
    let rec_s = t.elapsed().as_secs_f64();
    report(
        "cross-sell: fit+scores+recs",
        n,
        fit_s + score_s + rec_s,
        &format!(
            "fit {:.0} ms ({} rows, rank {}), hybrid {:.0} ms ({} scores), recommend {:.0} ms ({recs})",
            fit_s * 1e3,
            model.fitted_rows,
            model.rank,
            score_s * 1e3,
            scores.len(),
            rec_s * 1e3
        ),
    );
    let t = Instant::now();
    let near: usize = model.lookalikes_all(5).iter().map(Vec::len).sum();
    report(
        "cross-sell: lookalikes (all)",
        n,
        t.elapsed().as_secs_f64(),
        &format!("{near} lookalikes"),
    );
    let t = Instant::now();
    let hit = crosssell::evaluate(&usage, Some(&active), &crosssell::Params::default(), 1).unwrap();
    report(
        "cross-sell: evaluate",
        n,
        t.elapsed().as_secs_f64(),
        &format!(
            "hit-rate@3 {:.3} vs popularity {:.3} ({} accounts)",
            hit.model, hit.popularity, hit.accounts
        ),
    );
    let t = Instant::now();
    let (inputs, x) = map::record_inputs(&gr).unwrap();
    let m = map::embed(&x).unwrap();
    report(
        "map of the book (PCA)",
        n,
        t.elapsed().as_secs_f64(),
        &format!(
            "{} inputs, explained {:.3} + {:.3}",
            inputs.len(),
            m.explained[0],
            m.explained[1]
        ),
    );

    // The exact SVD two ways on the fitted rows.
    let p = usage.n_features();
    let rows: Vec<usize> = (0..active.len()).filter(|&r| active[r]).collect();
    let x = ndarray::Array2::from_shape_fn((rows.len(), p), |(i, j)| {
        usage.counts[rows[i] * p + j].ln_1p()
    });
    let t = Instant::now();
    let gram = crosssell::truncated_svd(x.view(), p).unwrap();
    let gram_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (_, exact, _) = x.svd(true, true).unwrap().sort_svd_desc();
    let exact_s = t.elapsed().as_secs_f64();
    let worst = |r: usize| {
        (0..r)
            .map(|i| (gram.s[i] - exact[i]).abs() / exact[i])
            .fold(0.0, f64::max)
    };
    report(
        "svd: Gram+eigh vs svd()",
        n,
        0.0,
        &format!(
            "Gram {:.0} ms, svd() {:.0} ms (U, V, all {p}); max rel. diff of sigma: top 4 {:.1e}, all {:.1e}",
            gram_s * 1e3,
            exact_s * 1e3,
            worst(4),
            worst(p)
        ),
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let [name, n] = args.as_slice() {
        stage(name, n.parse().unwrap());
        return;
    }
    let scales: Vec<usize> = std::env::var("CGE_BENCH_SCALES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("CGE_BENCH_SCALES: numbers"))
        .collect();
    let me = std::env::current_exe().unwrap();
    for n in scales {
        for name in ["simulate", "features", "windows", "crosssell", "run", "tui"] {
            let status = Command::new(&me)
                .args([name, &n.to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "{name} {n} failed");
        }
    }
}
