//! The TUI driven through Actions: snapshots of every view (TestBackend + insta) and behaviour.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use cge::features::{self, GoldenRecord};
use cge::job::Progress;
use cge::pipeline::refresh::Refreshed;
use cge::simulate::{SimConfig, simulate};
use cge::tui::app::{Detail, InlineLoader, MouseKind};
use cge::tui::book::COLUMNS;
use cge::tui::loader::{self, Loaded};
use cge::tui::{Action, App, Config};
use cge::workspace::Workspace;

/// A small simulated book (built once per test binary).
fn record() -> &'static (tempfile::TempDir, GoldenRecord) {
    static REC: OnceLock<(tempfile::TempDir, GoldenRecord)> = OnceLock::new();
    REC.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(&tmp.path().join("tui.db")).unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        simulate(&mut ws, &SimConfig::new(80, 3, as_of), false).unwrap();
        let gr = features::build(&mut ws, as_of).unwrap();
        (tmp, gr)
    })
}

pub(crate) fn app_with(export_dir: &Path) -> App {
    app_configured(Config::builtin(true), export_dir)
}

/// The fixture book in an app with `config`.
pub(crate) fn app_configured(config: Config, export_dir: &Path) -> App {
    let mut app = App::new(
        config,
        Path::new("/data/workspace.db"),
        export_dir.to_path_buf(),
    )
    .with_inline_loader(loader_on(record().0.path().join("tui.db"), |i| {
        (i * 7 % 11) as u64
    }));
    app.update(Action::Resize(120, 30));
    app.set_record(&record().1).unwrap();
    app
}

pub(crate) fn app() -> App {
    app_with(Path::new("/exports"))
}

/// Serves the app's requests at once on the workspace at `path`, with a made-up weekly usage
/// series `weekly(week)` (the sparkline's snapshot stays put whatever the simulator does).
pub(crate) fn loader_on(path: PathBuf, weekly: fn(usize) -> u64) -> InlineLoader {
    Box::new(move |req| {
        let ws = Workspace::open_existing(&path).ok();
        match loader::serve(ws.as_ref(), req) {
            Loaded::Detail(d) => Loaded::Detail(Box::new(Detail {
                weekly: (0..26).map(weekly).collect(),
                ..*d
            })),
            other => other,
        }
    })
}

/// The one CSV file an export wrote into `dir`.
pub(crate) fn exported_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    assert_eq!(files.len(), 1, "one export in {}: {files:?}", dir.display());
    files[0].clone()
}

/// After an export: the status says it is done, and the one CSV written in `dir`, open.
pub(crate) fn exported_csv(a: &App, dir: &Path) -> csv::Reader<std::fs::File> {
    assert!(
        a.status.clone().unwrap().starts_with("exported"),
        "{:?}",
        a.status
    );
    csv::Reader::from_path(exported_file(dir)).unwrap()
}

/// The screen as text (TestBackend). Shared with the scored-book tests.
pub(crate) fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| cge::tui::ui::draw(f, app)).unwrap();
    t.backend().to_string()
}

pub(crate) fn col(key: &str) -> usize {
    COLUMNS.iter().position(|c| c.key == key).unwrap()
}

/// The values of a frame column for the rows of the view, in view order.
pub(crate) fn view_values(app: &App, key: &str) -> Vec<String> {
    let book = app.book.as_ref().unwrap();
    (0..book.len()).map(|r| book.raw(r, key)).collect()
}

#[test]
fn snapshot_accounts_view() {
    insta::assert_snapshot!("accounts", screen(&app(), 120, 30));
}

#[test]
fn snapshot_detail_view() {
    let mut a = app();
    a.update(Action::ToggleDetail);
    insta::assert_snapshot!("detail", screen(&a, 120, 30));
    a.update(Action::ToggleMeanings);
    a.update(Action::SwitchFocus);
    a.update(Action::Down);
    insta::assert_snapshot!("detail_meanings_scrolled", screen(&a, 120, 30));
}

#[test]
fn snapshot_help_overlay() {
    let mut a = app();
    a.update(Action::Help);
    insta::assert_snapshot!("help", screen(&a, 120, 30));
    a.update(Action::Back);
    assert_eq!(screen(&a, 120, 30), screen(&app(), 120, 30));
}

#[test]
fn snapshot_filter_menu() {
    let mut a = app();
    a.update(Action::FilterMenu);
    insta::assert_snapshot!("filter_kinds", screen(&a, 120, 30));
    a.update(Action::Confirm); // owner
    insta::assert_snapshot!("filter_owners", screen(&a, 120, 30));
}

#[test]
fn snapshot_export_prompt() {
    let mut a = app();
    a.update(Action::Export);
    insta::assert_snapshot!("export_prompt", screen(&a, 120, 30));
}

#[test]
fn snapshot_too_small_and_empty_and_job() {
    insta::assert_snapshot!("too_small", screen(&app(), 50, 10));
    let mut empty = App::new(
        Config::builtin(true),
        Path::new("/data/workspace.db"),
        PathBuf::from("/exports"),
    );
    empty.update(Action::Resize(100, 16));
    insta::assert_snapshot!("empty_workspace", screen(&empty, 100, 16));
    let mut a = app();
    a.on_progress(Progress {
        stage: "golden record".into(),
        percent: 45,
        message: "SQL stages".into(),
    });
    insta::assert_snapshot!("job_running", screen(&a, 120, 30));
}

#[test]
fn sorting_orders_the_view_and_marks_the_header() {
    let mut a = app();
    // Starts riskiest first.
    let risk: Vec<f64> = view_values(&a, "compound_churn_risk_score")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(risk.windows(2).all(|w| w[0] >= w[1]));
    a.update(Action::SortBy(col("total_arr")));
    let arr: Vec<f64> = view_values(&a, "total_arr")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        arr.windows(2).all(|w| w[0] >= w[1]),
        "ARR sorts descending first"
    );
    assert!(screen(&a, 120, 30).contains("ARR▼"));
    a.update(Action::SortReverse);
    let arr: Vec<f64> = view_values(&a, "total_arr")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(arr.windows(2).all(|w| w[0] <= w[1]));
    assert!(screen(&a, 120, 30).contains("ARR▲"));
    // [ and ] on the selected column; categories sort by rank, not alphabet.
    a.column = col("engagement_level");
    a.update(Action::SortDescending);
    let rank = |v: &str| {
        ["none", "low", "medium", "high"]
            .iter()
            .position(|r| *r == v)
            .unwrap()
    };
    let eng: Vec<usize> = view_values(&a, "engagement_level")
        .iter()
        .map(|v| rank(v))
        .collect();
    assert!(eng.windows(2).all(|w| w[0] >= w[1]), "{eng:?}");
    a.update(Action::SortAscending);
    let eng: Vec<usize> = view_values(&a, "engagement_level")
        .iter()
        .map(|v| rank(v))
        .collect();
    assert!(eng.windows(2).all(|w| w[0] <= w[1]));
    // s cycles to the next column with its default direction.
    a.update(Action::SortNext);
    assert_eq!(
        a.book.as_ref().unwrap().sort,
        Some((
            col("engagement_level") + 1,
            COLUMNS[col("engagement_level") + 1].descending_first
        ))
    );
}

#[test]
fn filters_stack_and_pop_and_the_footer_counts() {
    let mut a = app();
    let total = a.book.as_ref().unwrap().len();
    a.update(Action::FilterMenu);
    a.update(Action::Confirm); // owner
    a.update(Action::Confirm); // first owner
    let owners = view_values(&a, "owner");
    assert!(!owners.is_empty() && owners.len() < total);
    assert!(owners.iter().all(|o| o == &owners[0]));
    let screen1 = screen(&a, 120, 30);
    assert!(
        screen1.contains(&format!("filters: owner: {}", owners[0])),
        "{screen1}"
    );
    assert!(
        screen1.contains(&format!(" 1/{} · ARR", owners.len())),
        "{screen1}"
    );
    // Stack a contract-renewal window (rule scores only: owner, then contract renewal).
    a.update(Action::FilterMenu);
    a.update(Action::Down);
    a.update(Action::Confirm); // contract renewal
    a.update(Action::Down);
    a.update(Action::Confirm); // 60 days
    let renew: Vec<i64> = view_values(&a, "days_to_next_renewal")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(renew.iter().all(|d| (0..=60).contains(d)));
    assert!(
        view_values(&a, "billing_frequency")
            .iter()
            .all(|b| b == "annual")
    );
    assert!(view_values(&a, "owner").iter().all(|o| o == &owners[0]));
    assert_eq!(a.book.as_ref().unwrap().filters.len(), 2);
    a.update(Action::PopFilter);
    assert_eq!(view_values(&a, "owner"), owners);
    a.update(Action::PopFilter);
    assert_eq!(a.book.as_ref().unwrap().len(), total);
}

#[test]
fn search_moves_to_matches_and_n_cycles() {
    let mut a = app();
    let book = a.book.as_ref().unwrap();
    let target = book.name(book.len() - 1).unwrap().to_string();
    let word: String = target.split(' ').next().unwrap().to_string();
    a.update(Action::Search);
    for c in word.chars() {
        a.update(Action::Input(c));
    }
    assert!(screen(&a, 120, 30).contains(&format!("search: {word}")));
    let first = a.selected;
    assert!(
        a.book
            .as_ref()
            .unwrap()
            .name(first)
            .unwrap()
            .contains(&word)
    );
    a.update(Action::Confirm);
    let matches = (0..a.book.as_ref().unwrap().len())
        .filter(|&r| {
            a.book
                .as_ref()
                .unwrap()
                .name(r)
                .unwrap()
                .to_lowercase()
                .contains(&word.to_lowercase())
        })
        .count();
    let mut seen = vec![a.selected];
    for _ in 0..matches {
        a.update(Action::SearchNext);
        seen.push(a.selected);
    }
    assert_eq!(
        seen.first(),
        seen.last(),
        "n wraps around to the first match"
    );
    a.update(Action::SearchPrevious);
    assert_eq!(a.selected, seen[matches - 1]);
    // Esc during a search returns to where it started.
    let before = a.selected;
    a.update(Action::Search);
    a.update(Action::Input('z'));
    a.update(Action::Input('q'));
    a.update(Action::Back);
    assert_eq!(a.selected, before);
}

#[test]
fn export_writes_exactly_the_view_and_asks_before_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = app_with(dir.path());
    a.update(Action::SortBy(col("total_arr")));
    a.update(Action::FilterMenu);
    a.update(Action::Down); // plan
    a.update(Action::Confirm);
    a.update(Action::Confirm); // first plan value
    a.update(Action::Export);
    a.update(Action::Confirm);
    let status = a.status.clone().unwrap();
    assert!(status.starts_with("exported "), "{status}");
    let path = dir.path().join("cge-accounts-2026-10-31.csv");
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(&headers[0], "account_id");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let book = a.book.as_ref().unwrap();
    assert_eq!(rows.len(), book.len());
    assert_eq!(
        status,
        format!("exported {} rows to {}", rows.len(), path.display())
    );
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(&r[0], book.account_id(i).unwrap(), "row {i} out of order");
    }
    // A second export suggests a free name; typing the old one asks before overwriting.
    a.update(Action::Export);
    match &a.mode {
        cge::tui::app::Mode::Export(p) => assert!(
            p.input.as_str().ends_with("cge-accounts-2026-10-31-1.csv"),
            "{}",
            p.input.as_str()
        ),
        other => panic!("{other:?}"),
    }
    for _ in 0..6 {
        a.update(Action::InputBackspace);
    }
    for c in ".csv".chars() {
        a.update(Action::Input(c));
    }
    a.update(Action::Confirm);
    assert!(screen(&a, 120, 30).contains("already exists"));
    let before = std::fs::read(&path).unwrap();
    a.update(Action::Input('n'));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "declined overwrite changed the file"
    );
    a.update(Action::Confirm);
    a.update(Action::Input('y'));
    assert!(
        a.status.clone().unwrap().starts_with("exported"),
        "{:?}",
        a.status
    );
}

#[test]
fn a_new_record_keeps_selection_sort_and_filters() {
    let mut a = app();
    a.update(Action::SortBy(col("total_arr")));
    a.update(Action::FilterMenu);
    a.update(Action::Confirm);
    a.update(Action::Confirm);
    a.update(Action::Down);
    let id = a.selected_account().unwrap().to_string();
    let view = view_values(&a, "account_id");
    a.on_job_end(Ok(Some(Refreshed::Record {
        record: record().1.clone(),
        why: "not enough history".into(),
    })));
    assert_eq!(a.selected_account(), Some(id.as_str()));
    assert_eq!(view_values(&a, "account_id"), view);
    let status = a.status.clone().unwrap();
    assert!(
        status.contains("not enough history") && status.contains("rule scores"),
        "{status}"
    );
    a.on_job_end(Err("disk full".into()));
    assert_eq!(a.status.as_deref(), Some("run failed: disk full"));
}

#[test]
fn mouse_selects_rows_and_sorts_by_header() {
    let mut a = app();
    // Row 2 of the screen is the table header; data starts below it.
    let click = a.mouse_action(MouseKind::Click, 1, 5).unwrap();
    assert_eq!(click, Action::SelectRow(2));
    a.update(click);
    assert_eq!(a.selected, 2);
    let arr_x = {
        let mut x = 0;
        // Rule scores only: a run's columns are hidden.
        for c in COLUMNS[..col("total_arr")].iter().filter(|c| !c.model) {
            x += c.width + 1;
        }
        x + 1
    };
    assert_eq!(
        a.mouse_action(MouseKind::Click, arr_x, 2),
        Some(Action::SortBy(col("total_arr")))
    );
    assert_eq!(
        a.mouse_action(MouseKind::WheelDown, 0, 0),
        Some(Action::ScrollDown)
    );
}

#[test]
fn navigation_stays_in_bounds() {
    let mut a = app();
    let n = a.book.as_ref().unwrap().len();
    a.update(Action::Up);
    assert_eq!(a.selected, 0);
    a.update(Action::Bottom);
    assert_eq!(a.selected, n - 1);
    a.update(Action::Down);
    assert_eq!(a.selected, n - 1);
    a.update(Action::PageUp);
    assert!(a.selected < n - 1);
    a.update(Action::Top);
    a.update(Action::PageDown);
    assert_eq!(a.selected, a.page());
    a.update(Action::Quit);
    assert!(a.quit);
}

#[test]
fn ctrl_c_quits_from_every_mode() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let setups: Vec<(&str, Vec<Action>)> = vec![
        ("table", vec![]),
        ("search", vec![Action::Search, Action::Input('a')]),
        ("filter kinds", vec![Action::FilterMenu]),
        ("filter values", vec![Action::FilterMenu, Action::Confirm]),
        ("export prompt", vec![Action::Export]),
        ("help", vec![Action::Help]),
        ("detail focus", vec![Action::SwitchFocus]),
    ];
    for (name, actions) in setups {
        let mut a = app();
        for act in actions {
            a.update(act);
        }
        let action = cge::tui::key_action(&a, &ctrl_c);
        assert_eq!(action, Some(Action::ForceQuit), "{name}");
        a.update(action.unwrap());
        assert!(a.quit, "Ctrl-c did not quit from {name}");
    }
}

#[test]
fn confirming_an_overwrite_writes_the_path_that_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let target = home.join("book.csv");
    std::fs::write(&target, "old contents\n").unwrap();
    let mut a = app_with(dir.path());
    a.home = Some(home.clone());
    a.update(Action::Export);
    let typed = match &a.mode {
        cge::tui::app::Mode::Export(p) => p.input.as_str().chars().count(),
        other => panic!("{other:?}"),
    };
    for _ in 0..typed {
        a.update(Action::InputBackspace);
    }
    for c in "~/book.csv".chars() {
        a.update(Action::Input(c));
    }
    a.update(Action::Confirm);
    let shown = screen(&a, 120, 30);
    assert!(
        shown.contains(&format!("{} already exists", target.display())),
        "the prompt names the expanded path:\n{shown}"
    );
    a.update(Action::Input('y'));
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.starts_with("account_id,"), "{written}");
    assert_eq!(
        written.lines().count(),
        a.book.as_ref().unwrap().len() + 1,
        "header plus every row of the view"
    );
    assert!(!Path::new("~").exists(), "wrote to a literal ~ folder");
    assert_eq!(
        a.status.as_deref(),
        Some(
            format!(
                "exported {} rows to {}",
                written.lines().count() - 1,
                target.display()
            )
            .as_str()
        )
    );
}

#[test]
fn without_a_run_the_detail_lists_the_rules_that_fired_and_they_add_up_to_the_score() {
    let mut a = app();
    a.update(Action::Resize(140, 50));
    a.update(Action::ToggleDetail);
    for _ in 0..6 {
        let s = screen(&a, 140, 50);
        let id = a.selected_account().unwrap().to_string();
        // The stored score of the record, as the book holds it.
        let stored = a
            .book
            .as_ref()
            .unwrap()
            .raw(a.selected, "compound_churn_risk_score");
        assert!(
            s.contains(&format!("WHY THIS RULE SCORE · churn risk {stored} of 100")),
            "{s}"
        );
        // The "+N" lines of the churn block add up to the stored score (capped at 100).
        let block: Vec<&str> = s
            .lines()
            .skip_while(|l| !l.contains("WHY THIS RULE SCORE"))
            .skip(1)
            .take_while(|l| !l.contains("CROSS-SELL READINESS"))
            .collect();
        let sum: f64 = block
            .iter()
            .filter_map(|l| {
                let detail = l.split('│').nth(1)?.trim();
                detail
                    .strip_prefix('+')?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .sum();
        assert_eq!(sum.min(100.0).to_string(), stored, "{id}:\n{s}");
        a.update(Action::Down);
    }
}
