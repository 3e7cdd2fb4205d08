//! The TUI on a stored run: scores, actions and drivers in the table and the detail, the
//! filters on them, the swap-in of a new run, the sample label, and what the UI opens.
//! Expected values come from SQL on the workspace, not from the book under test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use rusqlite::Connection;

use cge::actions::evidence::money_short;
use cge::features::GoldenRecord;
use cge::job::Reporter;
use cge::pipeline::refresh::Refreshed;
use cge::pipeline::run::RunOptions;
use cge::pipeline::stored::{self, StoredRun};
use cge::simulate::{SimConfig, simulate};
use cge::tui::{Action, App, Config, Opening, opening};
use cge::workspace::Workspace;

use crate::tui::{col, loader_on, screen, view_values};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A 300-account world with two runs (built once per test binary). Before the second run,
/// the first one's scores are rewritten (0.5 for accounts whose id ends in an odd digit,
/// else 0, no contributions, action "Old play"), so run 2 has risk moving both ways.
pub(crate) fn scored() -> &'static (tempfile::TempDir, PathBuf, StoredRun, GoldenRecord) {
    static W: OnceLock<(tempfile::TempDir, PathBuf, StoredRun, GoldenRecord)> = OnceLock::new();
    W.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("scored.db");
        let mut ws = Workspace::open(&path).unwrap();
        simulate(&mut ws, &SimConfig::new(300, 3, date("2026-10-31")), false).unwrap();
        let opts = RunOptions::default();
        cge::pipeline::execute(&mut ws, &opts, &Reporter::silent()).unwrap();
        ws.conn()
            .execute(
                "UPDATE account_scores SET churn_probability =
                   CASE WHEN substr(account_id, -1) IN ('1','3','5','7','9') THEN 0.5 ELSE 0.0 END,
                   action = 'Old play', contributions_json = '[]'",
                [],
            )
            .unwrap();
        cge::pipeline::execute(&mut ws, &opts, &Reporter::silent()).unwrap();
        let run = stored::latest(&ws).unwrap().expect("a stored run");
        assert!(run.report.is_some(), "the stored report reads back");
        assert!(run.complete());
        let record = cge::features::load(&ws, run.as_of).unwrap().unwrap();
        (tmp, path, run, record)
    })
}

fn db() -> Connection {
    Connection::open(&scored().1).unwrap()
}

/// The first column of every row of a query on the fixture workspace.
fn sql<T: rusqlite::types::FromSql>(query: &str) -> Vec<T> {
    let conn = db();
    let mut stmt = conn.prepare(query).unwrap();
    stmt.query_map([], |r| r.get::<_, T>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Run 2's scores of the accounts active at its as-of date, joined to their record.
const ACTIVE: &str = "FROM account_scores s JOIN golden_record g
     ON g.account_id = s.account_id AND g.as_of = '2026-10-31'
     WHERE s.run_id = 2 AND g.lifecycle_status = 'active'";

pub(crate) fn scored_app() -> App {
    let path = scored().1.clone();
    let mut app = App::new(
        Config::builtin(true),
        Path::new("/data/workspace.db"),
        PathBuf::from("/exports"),
    )
    .with_inline_loader(loader_on(path, |i| (i * 5 % 9) as u64));
    app.update(Action::Resize(120, 30));
    app.set_run(&scored().2).unwrap();
    app
}

#[test]
fn snapshot_scored_accounts_view() {
    insta::assert_snapshot!("scored_accounts", screen(&scored_app(), 120, 30));
}

#[test]
fn the_book_opens_on_arr_at_risk_and_the_footer_sums_the_view() {
    let a = scored_app();
    let book = a.book.as_ref().unwrap();
    let want_n = sql::<f64>(&format!("SELECT count(*) {ACTIVE}"))[0] as usize;
    let want_at_risk = sql::<f64>(&format!("SELECT sum(s.arr_at_risk) {ACTIVE}"))[0];
    assert_eq!(book.len(), want_n);
    assert!((book.view_at_risk() - want_at_risk).abs() < 1e-6 * want_at_risk.max(1.0));
    let at_risk: Vec<f64> = view_values(&a, "arr_at_risk")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(at_risk.windows(2).all(|w| w[0] >= w[1]), "{at_risk:?}");
    let s = screen(&a, 120, 30);
    assert!(s.contains("AtRisk▼"), "{s}");
    assert!(
        s.contains(&format!(
            " 1/{want_n} · ARR {} · at risk {}",
            money_short(sql::<f64>(&format!("SELECT sum(g.total_arr) {ACTIVE}"))[0]),
            money_short(want_at_risk)
        )),
        "{s}"
    );
    assert!(
        s.contains("active accounts · as of 2026-10-31 · run 2"),
        "{s}"
    );
}

#[test]
fn churn_shows_as_a_percent_with_its_change_since_the_last_run() {
    let a = scored_app();
    let book = a.book.as_ref().unwrap();
    let churn = col("churn_probability");
    for (cmp, arrow) in [("> 0.02", "▲"), ("< -0.02", "▼"), ("= 0", "")] {
        let conn = db();
        let found: Option<(String, f64)> = conn
            .query_row(
                &format!(
                    "SELECT s.account_id, s.churn_probability {ACTIVE} AND s.churn_delta {cmp} LIMIT 1"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        let Some((id, p)) = found else {
            assert_eq!(cmp, "= 0", "the fixture has risk moving both ways");
            continue;
        };
        let row = book.position_of(&id).unwrap();
        assert_eq!(
            book.cell(row, churn),
            format!("{}%{arrow}", (p * 100.0).round()),
            "{id}"
        );
    }
}

#[test]
fn filters_on_action_churn_band_and_contract_renewal_match_sql() {
    let mut a = scored_app();
    let total = a.book.as_ref().unwrap().len();
    // The menu with a run: owner, next best action, churn risk band, contract renewal, ...
    let actions = sql::<String>(&format!(
        "SELECT DISTINCT s.action {ACTIVE} ORDER BY s.action"
    ));
    a.update(Action::FilterMenu);
    a.update(Action::Down);
    a.update(Action::Confirm);
    a.update(Action::Confirm); // the first action
    let want = sql::<f64>(&format!(
        "SELECT count(*) {ACTIVE} AND s.action = '{}'",
        actions[0]
    ))[0] as usize;
    let got = view_values(&a, "next_best_action");
    assert_eq!(got.len(), want);
    assert!(got.iter().all(|x| x == &actions[0]));
    assert!(screen(&a, 120, 30).contains(&format!("filters: next best action: {}", actions[0])));
    a.update(Action::PopFilter);

    a.update(Action::FilterMenu);
    for _ in 0..2 {
        a.update(Action::Down);
    }
    a.update(Action::Confirm);
    a.update(Action::Down);
    a.update(Action::Down);
    a.update(Action::Confirm); // churn risk ≥ 40 %
    let want = sql::<f64>(&format!(
        "SELECT count(*) {ACTIVE} AND s.churn_probability >= 0.4"
    ))[0] as usize;
    assert_eq!(a.book.as_ref().unwrap().len(), want);
    assert!(screen(&a, 120, 30).contains("churn risk ≥ 40 %"));
    a.update(Action::PopFilter);

    a.update(Action::FilterMenu);
    for _ in 0..3 {
        a.update(Action::Down);
    }
    a.update(Action::Confirm);
    a.update(Action::Confirm); // annual contracts renewing within 30 days
    let want = sql::<f64>(&format!(
        "SELECT count(*) {ACTIVE} AND g.billing_frequency = 'annual'
           AND g.days_to_next_renewal BETWEEN 0 AND 30"
    ))[0] as usize;
    let monthly = sql::<f64>(&format!(
        "SELECT count(*) {ACTIVE} AND g.billing_frequency = 'monthly'
           AND g.days_to_next_renewal BETWEEN 0 AND 30"
    ))[0] as usize;
    assert!(
        monthly > 0,
        "the fixture has monthly accounts renewing within 30 days"
    );
    assert_eq!(a.book.as_ref().unwrap().len(), want);
    a.update(Action::PopFilter);
    assert_eq!(a.book.as_ref().unwrap().len(), total);
}

#[test]
fn snapshot_detail_explains_the_score_the_action_and_the_move() {
    let mut a = scored_app();
    a.update(Action::Resize(160, 50));
    a.update(Action::ToggleDetail);
    let id = a.selected_account().unwrap().to_string();
    let s = screen(&a, 160, 50);
    insta::assert_snapshot!("scored_detail", s);
    let conn = db();
    let (drivers, action, change): (String, String, String) = conn
        .query_row(
            "SELECT drivers_json, action, change_json FROM account_scores
             WHERE run_id = 2 AND account_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let drivers: serde_json::Value = serde_json::from_str(&drivers).unwrap();
    let first = drivers["up"][0]["words"].as_str().unwrap();
    for want in [
        "WHY THIS SCORE",
        first,
        &format!("NEXT BEST ACTION {action}"),
        "WHY IT MOVED SINCE RUN 1",
        "action was Old play",
        "WEEKLY USAGE",
    ] {
        assert!(s.contains(want), "missing {want:?}:\n{s}");
    }
    let change: serde_json::Value = serde_json::from_str(&change).unwrap();
    let before = change["churn_before"].as_f64().unwrap();
    assert!(s.contains(&format!("was {:.1} %", before * 100.0)), "{s}");
}

#[test]
fn snapshot_the_sample_is_labelled() {
    let mut a = scored_app();
    a.sample = true;
    let s = screen(&a, 100, 14);
    assert!(s.lines().next().unwrap().contains("SAMPLE DATA"), "{s}");
    insta::assert_snapshot!("sample_header", s);
}

#[test]
fn a_new_run_swaps_in_keeping_selection_and_filters() {
    let run = &scored().2;
    // The UI showed the rule scores of the same record, with an owner filter.
    let mut a = scored_app();
    a.set_record(&scored().3).unwrap();
    assert!(!a.book.as_ref().unwrap().scored());
    assert!(screen(&a, 120, 30).contains("Rule▼"));
    a.update(Action::FilterMenu);
    a.update(Action::Confirm);
    a.update(Action::Confirm); // the first owner
    a.update(Action::Down);
    let id = a.selected_account().unwrap().to_string();
    let owners = view_values(&a, "owner");

    a.on_job_end(Ok(Some(Refreshed::Run(Box::new(run.clone())))));
    assert_eq!(a.selected_account(), Some(id.as_str()));
    let now = view_values(&a, "owner");
    assert_eq!(now.len(), owners.len());
    assert!(now.iter().all(|o| o == &owners[0]));
    let s = screen(&a, 120, 30);
    assert!(
        s.contains("AtRisk▼"),
        "the default sort becomes ARR at risk: {s}"
    );
    assert!(a.status.clone().unwrap().contains("run 2 scored"));

    // A sort the user chose survives the next swap; a filter on scores does not survive a
    // swap to rule scores (it would hide every account), the owner filter does.
    a.update(Action::SortBy(col("total_arr")));
    a.update(Action::FilterMenu);
    a.update(Action::Down);
    a.update(Action::Down);
    a.update(Action::Confirm);
    a.update(Action::Confirm); // churn risk ≥ 70 %
    assert_eq!(a.book.as_ref().unwrap().filters.len(), 2);
    a.on_job_end(Ok(Some(Refreshed::Run(Box::new(run.clone())))));
    assert!(screen(&a, 120, 30).contains("ARR▼"));
    a.on_job_end(Ok(Some(Refreshed::Record {
        record: scored().3.clone(),
        why: "test".into(),
    })));
    let filters = &a.book.as_ref().unwrap().filters;
    assert_eq!(filters.len(), 1);
    assert!(filters[0].describe().starts_with("owner: "));
}

#[test]
fn the_exported_view_carries_scores_and_actions_in_screen_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = scored_app();
    a.export_dir = tmp.path().to_path_buf();
    a.update(Action::Export);
    a.update(Action::Confirm);
    let mut r = crate::tui::exported_csv(&a, tmp.path());
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    for h in [
        "churn_probability",
        "next_best_action",
        "arr_at_risk",
        "escalation_probability",
    ] {
        assert!(headers.iter().any(|x| x == h), "{h} missing: {headers:?}");
    }
    let id = headers.iter().position(|h| h == "account_id").unwrap();
    let ids: Vec<String> = r.records().map(|x| x.unwrap()[id].to_string()).collect();
    assert_eq!(ids, view_values(&a, "account_id"));
    // The same accounts and values as run 2 in SQL.
    let mut want = sql::<String>(&format!("SELECT s.account_id {ACTIVE}"));
    let mut got = ids.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn the_ui_opens_the_latest_run_and_reruns_only_when_the_data_moved_on() {
    let ws = Workspace::open_existing(&scored().1).unwrap();
    match opening(&ws).unwrap() {
        Opening::Scored { run, current } => {
            assert_eq!(run.run_id, 2);
            assert!(current);
        }
        other => panic!("expected the stored run, got {other:?}"),
    }
    drop(ws);
    // A run as of an earlier date is shown, and a new one is asked for.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("copy.db");
    std::fs::copy(&scored().1, &copy).unwrap();
    let mut ws = Workspace::open_existing(&copy).unwrap();
    let opts = RunOptions {
        as_of: Some(date("2026-09-30")),
        ..RunOptions::default()
    };
    cge::pipeline::execute(&mut ws, &opts, &Reporter::silent()).unwrap();
    match opening(&ws).unwrap() {
        Opening::Scored { run, current } => {
            assert_eq!(run.as_of, date("2026-09-30"));
            assert!(!current);
        }
        other => panic!("expected the stored run, got {other:?}"),
    }
}

#[test]
fn the_sample_workspace_is_marked_until_real_data_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("first.db");
    cge::workspace::create_from_sample(&path).unwrap();
    let ws = Workspace::open_existing(&path).unwrap();
    assert!(cge::workspace::is_sample(ws.conn()).unwrap());
    drop(ws);
    let other = tmp.path().join("sim.db");
    let mut ws = Workspace::open(&other).unwrap();
    simulate(&mut ws, &SimConfig::new(40, 1, date("2026-10-31")), false).unwrap();
    assert!(!cge::workspace::is_sample(ws.conn()).unwrap());
    // Replacing the sample's data with simulated data clears the mark.
    let out = crate::support::cge(
        &path,
        &[
            "simulate",
            "--accounts",
            "40",
            "--seed",
            "1",
            "--as-of",
            "2026-10-31",
            "--replace",
        ],
    );
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let ws = Workspace::open_existing(&path).unwrap();
    assert!(!cge::workspace::is_sample(ws.conn()).unwrap());
}

#[test]
fn snapshot_model_report_shows_metrics_baselines_actions_and_forecast() {
    let mut a = scored_app();
    a.update(Action::Resize(120, 48));
    let before = screen(&a, 120, 48);
    a.update(Action::Report);
    let s = screen(&a, 120, 48);
    insta::assert_snapshot!("model_report", s);
    // The numbers come from the stored report, read here as plain JSON.
    let json: String = db()
        .query_row(
            "SELECT report_json FROM model_runs WHERE run_id = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b = &v["churn"]["backtest"];
    let row = s
        .lines()
        .find(|l| l.contains("PR-AUC"))
        .expect("a PR-AUC row");
    for key in ["pr_auc", "rule_pr_auc", "base_rate"] {
        let want = format!("{:.3}", b[key].as_f64().unwrap());
        assert!(row.contains(&want), "{key} {want} not in {row}");
    }
    // All of it, on a screen tall enough not to scroll.
    let mut tall = scored_app();
    tall.update(Action::Resize(120, 120));
    tall.update(Action::Report);
    let all = screen(&tall, 120, 120);
    for want in [
        "CHURN MODEL",
        "ESCALATION MODEL",
        "NEXT BEST ACTIONS",
        "BOOK FORECAST",
        "last quarter's forecast",
        "CROSS-SELL",
        "precision–recall (backtest)",
        "│escalation│",
        "reliability",
        &format!(
            "map of the view · {} accounts",
            sql::<i64>(&format!("SELECT count(*) {ACTIVE}"))[0]
        ),
        "MAP OF THE BOOK",
    ] {
        assert!(all.contains(want), "missing {want:?}:\n{all}");
    }
    for action in v["actions"].as_array().unwrap() {
        let name = action["action"].as_str().unwrap();
        assert!(all.contains(name), "action {name} missing from the report");
    }
    a.update(Action::Down);
    assert_ne!(screen(&a, 120, 48), s, "j scrolls the report");
    a.update(Action::Back);
    assert_eq!(screen(&a, 120, 48), before);
}

#[test]
fn the_report_key_without_a_run_says_what_to_do() {
    let mut a = scored_app();
    a.set_record(&scored().3).unwrap();
    a.update(Action::Report);
    assert_eq!(a.mode, cge::tui::app::Mode::Normal);
    assert!(a.status.clone().unwrap().contains("press r"));
}

/// An app that queues its reads for the loader thread, as the real one does.
fn queued_app() -> App {
    let mut app = App::new(
        Config::builtin(true),
        Path::new("/data/workspace.db"),
        PathBuf::from("/exports"),
    );
    app.update(Action::Resize(120, 30));
    app
}

/// Serve the app's queued requests on the fixture workspace, as the loader thread does.
fn serve_all(app: &mut App) -> usize {
    let ws = Workspace::open_existing(&scored().1).unwrap();
    let reqs = app.take_requests();
    let n = reqs.len();
    for r in reqs {
        let loaded = cge::tui::loader::serve(Some(&ws), r);
        app.on_loaded(loaded);
    }
    n
}

#[test]
fn a_preview_holds_the_top_of_the_default_order_and_the_whole_book_swaps_in_behind_it() {
    let ws = Workspace::open_existing(&scored().1).unwrap();
    let preview = stored::preview(&ws, 12).unwrap().unwrap();
    let total = sql::<i64>(&format!("SELECT count(*) {ACTIVE}"))[0] as usize;
    assert_eq!((preview.total, preview.book.height()), (total, 12));
    assert!(!preview.complete());
    // The preview's accounts are the first 12 by ARR at risk (ties by account), from SQL.
    let want = sql::<String>(&format!(
        "SELECT s.account_id {ACTIVE} ORDER BY s.arr_at_risk DESC, s.account_id LIMIT 12"
    ));
    let mut a = queued_app();
    a.set_run(&preview).unwrap();
    assert!(a.book.as_ref().unwrap().is_preview());
    assert_eq!(view_values(&a, "account_id"), want);
    let s = screen(&a, 120, 30);
    assert!(
        s.contains(&format!(" 1/{total} · loading the book…")),
        "the footer counts the whole book: {s}"
    );
    // Sorting the preview alone would mislead: refused until the book is in.
    a.update(Action::SortBy(col("total_arr")));
    assert!(a.status.clone().unwrap().contains("still loading"), "{s}");
    assert_eq!(view_values(&a, "account_id"), want);

    a.update(Action::Down);
    a.update(Action::Down);
    assert_eq!(serve_all(&mut a), 1, "one request: the whole book");
    let book = a.book.as_ref().unwrap();
    assert!(!book.is_preview());
    assert_eq!(book.len(), total);
    assert_eq!(
        a.selected_account(),
        Some(want[2].as_str()),
        "selection kept"
    );
    assert_eq!(view_values(&a, "account_id")[..12], want[..]);
    assert!(screen(&a, 120, 30).contains(&format!(" 3/{total} · ARR ")));
    // A book the preview did not ask for (an older run) is not swapped in.
    a.on_loaded(cge::tui::loader::Loaded::Book(Ok(Some(Box::new(
        preview.clone(),
    )))));
    assert!(!a.book.as_ref().unwrap().is_preview());
}

#[test]
fn the_detail_loads_off_the_ui_thread_and_only_the_selected_account_is_kept() {
    let mut a = queued_app();
    a.set_run(&scored().2).unwrap();
    assert!(
        a.take_requests().is_empty(),
        "a complete run asks for nothing"
    );
    a.update(Action::Resize(160, 50));
    a.update(Action::ToggleDetail);
    a.update(Action::Down);
    a.update(Action::Down);
    let id = a.selected_account().unwrap().to_string();
    let d = a.detail.clone().unwrap();
    assert!(d.loading && d.account_id == id);
    assert!(screen(&a, 160, 50).contains("loading…"));
    // Three moves, three requests; answers for accounts no longer selected are dropped.
    let reqs = a.take_requests();
    assert_eq!(reqs.len(), 3);
    let ws = Workspace::open_existing(&scored().1).unwrap();
    let mut reqs = reqs.into_iter();
    let stale = cge::tui::loader::serve(Some(&ws), reqs.next().unwrap());
    a.on_loaded(stale);
    assert!(a.detail.as_ref().unwrap().loading);
    let last = cge::tui::loader::serve(Some(&ws), reqs.last().unwrap());
    a.on_loaded(last);
    let d = a.detail.clone().unwrap();
    assert!(!d.loading && d.account_id == id);
    let want: f64 = db()
        .query_row(
            "SELECT churn_probability FROM account_scores WHERE run_id = 2 AND account_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(d.explanation.unwrap().churn_probability, want);
    let s = screen(&a, 160, 50);
    assert!(
        s.contains("WHY THIS SCORE") && !s.contains("loading…"),
        "{s}"
    );
}

#[test]
fn export_writes_on_the_loader_and_says_so_when_done() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = queued_app();
    a.set_run(&scored().2).unwrap();
    a.export_dir = tmp.path().to_path_buf();
    a.update(Action::Export);
    a.update(Action::Confirm);
    assert!(a.status.clone().unwrap().starts_with("exporting"));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    assert_eq!(serve_all(&mut a), 1);
    let status = a.status.clone().unwrap();
    let n = sql::<i64>(&format!("SELECT count(*) {ACTIVE}"))[0];
    assert!(
        status.starts_with(&format!("exported {n} rows to ")),
        "{status}"
    );
    let file = crate::tui::exported_file(tmp.path());
    let rows = csv::Reader::from_path(&file).unwrap().records().count();
    assert_eq!(rows as i64, n);
}

#[test]
fn the_map_places_every_account_of_the_view_in_its_risk_band_and_marks_the_selection() {
    use cge::tui::map::{self, BANDS};
    let mut a = scored_app();
    let band = |lo: f64, hi: f64| {
        sql::<i64>(&format!(
            "SELECT count(*) {ACTIVE} AND s.churn_probability >= {lo} AND s.churn_probability < {hi}"
        ))[0] as usize
    };
    let want = [
        band(-1.0, BANDS[0]),
        band(BANDS[0], BANDS[1]),
        band(BANDS[1], 2.0),
    ];
    let m = map::layers(a.book.as_ref().unwrap(), a.selected);
    assert_eq!(m.bands.clone().map(|b| b.len()), want);
    assert!(want[0] > 0 && want[1] + want[2] > 0, "{want:?}");
    // The selected account sits where the run placed it (inside the 1–99 % frame, or on
    // its edge).
    let id = a.selected_account().unwrap().to_string();
    let (x, y): (f64, f64) = db()
        .query_row(
            "SELECT map_x, map_y FROM account_scores WHERE run_id = 2 AND account_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (sx, sy) = m.selected.unwrap();
    assert!((sx - x.clamp(m.x[0], m.x[1])).abs() < 1e-12);
    assert!((sy - y.clamp(m.y[0], m.y[1])).abs() < 1e-12);
    // The map shows the view: one owner's book.
    a.update(Action::FilterMenu);
    a.update(Action::Confirm);
    a.update(Action::Confirm); // the first owner
    let owner = view_values(&a, "owner")[0].clone();
    let n = sql::<i64>(&format!("SELECT count(*) {ACTIVE} AND g.owner = '{owner}'"))[0];
    assert_eq!(
        map::layers(a.book.as_ref().unwrap(), a.selected).len() as i64,
        n
    );
    // Drawn in the report beside the curves, with the selection marked once.
    a.update(Action::Report);
    let s = screen(&a, 140, 48);
    assert!(
        s.contains(&format!("map of the view · {n} accounts")),
        "{s}"
    );
    assert_eq!(s.matches('◆').count(), 2, "the marker and its legend: {s}");
}

#[test]
fn the_detail_shows_lookalikes_for_any_account_not_only_upsells() {
    // An account whose action is not an upsell, with lookalikes, per SQL.
    let (id, json): (String, String) = db()
        .query_row(
            &format!(
                "SELECT s.account_id, s.lookalikes_json {ACTIVE}
                   AND s.action <> 'Upsell Meeting' AND s.lookalikes_json <> '[]'
                 ORDER BY s.account_id LIMIT 1"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let lookalikes: Vec<String> = serde_json::from_str(&json).unwrap();
    let mut a = scored_app();
    a.update(Action::Resize(200, 60));
    let row = a.book.as_ref().unwrap().position_of(&id).unwrap();
    a.update(Action::SelectRow(row));
    a.update(Action::ToggleDetail);
    let s = screen(&a, 200, 60);
    assert!(
        s.contains("ACCOUNTS LIKE THIS ONE, AND WHAT THEY DID"),
        "{s}"
    );
    for l in &lookalikes {
        let start: String = l.chars().take(30).collect();
        assert!(s.contains(&start), "{start:?} missing:\n{s}");
    }
}
