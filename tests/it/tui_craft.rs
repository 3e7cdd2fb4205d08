//! The TUI's craft (issue 13): each observed defect has a test here that failed before its
//! fix — scrolling that ends, keys that act on the pane with the focus, a highlight that
//! stays, help that fits any size, and no keys acting on a screen too small to see.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

use cge::features::dictionary::{FEATURES, Group};
use cge::tui::app::Mode;
use cge::tui::{Action, App};

use crate::tui::{app, screen, view_values};

/// The last line of the detail: the last feature of the last group.
fn last_detail_line() -> &'static str {
    let last = *Group::ALL.last().unwrap();
    FEATURES
        .iter()
        .rev()
        .find(|f| f.group == last)
        .unwrap()
        .name
}

fn focused_detail() -> App {
    let mut a = app();
    a.update(Action::ToggleDetail);
    a.update(Action::SwitchFocus);
    // Drawing measures the detail's text: the keys stop at its end from then on.
    let _ = screen(&a, 120, 30);
    a
}

#[test]
fn the_detail_scroll_ends_at_its_last_line_and_one_k_comes_back_one_line() {
    let mut a = focused_detail();
    for _ in 0..200 {
        a.update(Action::Down);
    }
    let end = screen(&a, 120, 30);
    assert!(end.contains(last_detail_line()), "{end}");
    let at_end = a.detail_scroll;
    assert!(at_end > 0 && at_end < 200, "{at_end}");
    a.update(Action::Up);
    assert_eq!(a.detail_scroll, at_end - 1);
    assert_ne!(screen(&a, 120, 30), end, "one k scrolls back at once");
}

#[test]
fn g_shift_g_and_page_keys_scroll_the_focused_detail_not_the_table() {
    let mut a = focused_detail();
    let selected = a.selected;
    a.update(Action::Bottom);
    assert_eq!(a.selected, selected, "G left the table alone");
    assert!(screen(&a, 120, 30).contains(last_detail_line()));
    let end = a.detail_scroll;
    a.update(Action::Top);
    assert_eq!((a.selected, a.detail_scroll), (selected, 0));
    a.update(Action::PageDown);
    assert_eq!(a.selected, selected, "PgDn left the table alone");
    assert!(a.detail_scroll > 1 && a.detail_scroll <= end);
    a.update(Action::PageUp);
    assert_eq!(a.detail_scroll, 0);
    // Back on the table, the same keys move the selection.
    a.update(Action::SwitchFocus);
    a.update(Action::PageDown);
    assert!(a.selected > selected);
}

/// The style of the first cell of the row showing the selected account.
fn selected_row_modifier(a: &App, w: u16, h: u16) -> Modifier {
    let name = a
        .book
        .as_ref()
        .unwrap()
        .name(a.selected)
        .unwrap()
        .to_string();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| cge::tui::ui::draw(f, a)).unwrap();
    let text = t.backend().to_string();
    let y = text
        .lines()
        .position(|l| l.starts_with(&format!("\"{name}")))
        .unwrap_or_else(|| panic!("{name} not on screen:\n{text}"));
    t.backend().buffer()[(0, y as u16)].modifier
}

#[test]
fn tab_with_the_detail_closed_opens_it_focused_and_the_row_keeps_its_highlight() {
    let mut a = app();
    a.update(Action::Down);
    let selected = a.selected;
    assert!(selected_row_modifier(&a, 120, 30).contains(Modifier::REVERSED));
    a.update(Action::SwitchFocus);
    assert!(a.show_detail && a.focus_detail);
    assert!(
        a.status.clone().unwrap().contains("Tab back"),
        "{:?}",
        a.status
    );
    assert!(
        selected_row_modifier(&a, 120, 30).contains(Modifier::REVERSED),
        "the row the detail is about stays highlighted"
    );
    let s = screen(&a, 120, 30);
    a.update(Action::Down);
    assert_eq!(a.selected, selected, "j scrolls the focused detail");
    assert_ne!(screen(&a, 120, 30), s, "and the scroll shows");
    // Enter closes the detail; the focus is back on the table.
    a.update(Action::Confirm);
    assert!(!a.show_detail && !a.focus_detail);
    a.update(Action::Down);
    assert_eq!(a.selected, selected + 1);
}

#[test]
fn help_scrolls_to_every_key_at_60x15_and_wraps_its_lines() {
    let mut a = app();
    a.update(Action::Resize(60, 15));
    a.update(Action::Help);
    let mut seen = screen(&a, 60, 15);
    for _ in 0..300 {
        a.update(Action::Down);
        seen.push_str(&screen(&a, 60, 15));
    }
    let Mode::Help(at_end) = a.mode else {
        panic!("help closed")
    };
    a.update(Action::Down);
    assert_eq!(a.mode, Mode::Help(at_end), "the scroll ends");
    for b in &a.config.keymap.bindings {
        // Its first words (a long description wraps onto the next line).
        let start: String = b.description.chars().take(20).collect();
        assert!(
            seen.contains(&start),
            "{:?} never shown:\n{seen}",
            b.description
        );
    }
    assert!(
        seen.contains("Industry") && seen.contains("edges."),
        "the legend's end is reachable:\n{seen}"
    );
}

#[test]
fn no_key_acts_while_the_terminal_is_too_small_except_quit() {
    let mut a = app();
    a.update(Action::FilterMenu);
    a.update(Action::Confirm);
    a.update(Action::Confirm);
    assert_eq!(a.book.as_ref().unwrap().filters.len(), 1);
    a.update(Action::Resize(50, 10));
    assert!(screen(&a, 50, 10).contains("Terminal too small"));
    for _ in 0..4 {
        a.update(Action::PopFilter);
    }
    a.update(Action::Down);
    a.update(Action::Help);
    assert_eq!(a.book.as_ref().unwrap().filters.len(), 1, "filters kept");
    assert_eq!((a.selected, &a.mode), (0, &Mode::Normal));
    a.update(Action::Resize(120, 30));
    assert!(!screen(&a, 120, 30).contains("Terminal too small"));
    a.update(Action::Resize(50, 10));
    a.update(Action::Quit);
    assert!(a.quit, "q still quits");
}

fn add_filter(a: &mut App, kind_label: &str, value: &str) {
    a.update(Action::FilterMenu);
    choose(a, |label| label.starts_with(kind_label));
    choose(a, |label| label == value);
}

/// Move the open picker's cursor to the first option whose label passes, and choose it.
fn choose(a: &mut App, wanted: impl Fn(&str) -> bool) {
    let m = menu(a);
    let at = m
        .shown
        .iter()
        .position(|&i| wanted(&m.options[i].label))
        .expect("the option is in the picker");
    for _ in 0..at {
        a.update(Action::Down);
    }
    a.update(Action::Confirm);
}

#[test]
fn two_values_of_one_field_widen_the_view_and_fields_narrow_it() {
    let mut a = app();
    let owners = view_values(&a, "owner");
    let plans = view_values(&a, "plan_tier");
    let mut distinct = owners.clone();
    distinct.sort();
    distinct.dedup();
    let (x, y) = (distinct[0].clone(), distinct[1].clone());
    let count = |o: &[&str], plan: Option<&str>| {
        owners
            .iter()
            .zip(&plans)
            .filter(|(ow, p)| o.contains(&ow.as_str()) && plan.is_none_or(|pl| pl == *p))
            .count()
    };
    add_filter(&mut a, "owner", &x);
    add_filter(&mut a, "owner", &y);
    assert_eq!(a.book.as_ref().unwrap().len(), count(&[&x, &y], None));
    let s = screen(&a, 120, 30);
    assert!(s.contains(&format!("owner: {x} or {y}")), "{s}");
    add_filter(&mut a, "plan", "Pro");
    assert_eq!(
        a.book.as_ref().unwrap().len(),
        count(&[&x, &y], Some("Pro"))
    );
    assert!(screen(&a, 120, 30).contains(&format!("owner: {x} or {y} › plan: Pro")));
}

#[test]
fn an_empty_view_shows_arr_as_zero_dollars() {
    assert_eq!(cge::actions::evidence::money_short(-0.0), "$0");
    assert_eq!(cge::actions::evidence::money_short(-0.2), "$0");
    assert_eq!(cge::actions::evidence::money_short(-1200.0), "-$1.2k");
    // A view nothing passes (an owner no account has): its ARR sums to -0.0 in Rust.
    let mut a = app();
    let book = a.book.as_mut().unwrap();
    book.filters.push(cge::tui::book::Filter::Equals {
        column: "owner",
        label: "owner",
        value: "Nobody At All".into(),
    });
    book.apply().unwrap();
    assert!(book.is_empty());
    let total = book.total();
    let s = screen(&a, 120, 30);
    assert!(s.contains(&format!(" 0/{total} · ARR $0 ")), "{s}");
}

#[test]
fn export_refuses_a_folder_and_a_missing_folder_and_asks_before_overwriting() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = crate::tui::app_with(tmp.path());
    let type_path = |a: &mut App, p: &std::path::Path| {
        a.update(Action::Export);
        for _ in 0..300 {
            a.update(Action::InputBackspace);
        }
        for c in p.display().to_string().chars() {
            a.update(Action::Input(c));
        }
        a.update(Action::Confirm);
    };
    // A folder: said plainly, nothing asked, nothing written.
    type_path(&mut a, tmp.path());
    assert!(
        a.status.clone().unwrap().contains("is a folder"),
        "{:?}",
        a.status
    );
    assert!(matches!(&a.mode, Mode::Export(p) if p.confirm_overwrite.is_none()));
    a.update(Action::Back);
    // A missing folder is not created.
    let missing = tmp.path().join("no-such-dir").join("x.csv");
    type_path(&mut a, &missing);
    assert!(
        a.status.clone().unwrap().contains("no folder"),
        "{:?}",
        a.status
    );
    assert!(!missing.parent().unwrap().exists());
    a.update(Action::Back);
    // An existing file: the prompt asks y/n and says which keys do what; Enter keeps it.
    let file = tmp.path().join("old.csv");
    std::fs::write(&file, "keep me").unwrap();
    type_path(&mut a, &file);
    let s = screen(&a, 120, 30);
    assert!(
        s.contains("y overwrite") && !s.contains("Enter write"),
        "{s}"
    );
    a.update(Action::Confirm);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert!(a.status.clone().unwrap().contains("not overwritten"));
}

#[test]
fn a_status_message_lasts_one_key_and_help_and_quit_stay_in_the_footer_at_80_columns() {
    let mut a = app();
    a.update(Action::Resize(80, 24));
    let s = screen(&a, 80, 24);
    let footer = s.lines().last().unwrap();
    assert!(footer.contains("? help · q quit"), "{footer}");
    a.update(Action::SearchNext); // "no search yet"
    let footer = screen(&a, 80, 24).lines().last().unwrap().to_string();
    assert!(
        footer.contains("no search yet") && footer.contains("? help · q quit"),
        "{footer}"
    );
    a.update(Action::Down);
    let footer = screen(&a, 80, 24).lines().last().unwrap().to_string();
    assert!(
        !footer.contains("no search yet") && footer.contains("s sort"),
        "{footer}"
    );
    // A search that found nothing: Esc leaves no message behind.
    a.update(Action::Search);
    for c in "zzzz".chars() {
        a.update(Action::Input(c));
    }
    assert!(screen(&a, 80, 24).contains("no account matches"));
    a.update(Action::Back);
    let s = screen(&a, 80, 24);
    assert!(
        !s.contains("no account matches") && !s.contains("zzzz"),
        "{s}"
    );
}

#[test]
fn search_finds_ids_counts_matches_keeps_its_term_and_names_the_filters_that_hide_matches() {
    let mut a = app();
    let ids = view_values(&a, "account_id");
    let names = view_values(&a, "account_name");
    // By id.
    let target = ids[10].clone();
    a.update(Action::Search);
    for c in target.to_lowercase().chars() {
        a.update(Action::Input(c));
    }
    assert_eq!(a.selected_account(), Some(target.as_str()));
    a.update(Action::Confirm);
    let s = screen(&a, 120, 30);
    assert!(
        s.contains(&format!("search {:?}", target.to_lowercase())),
        "{s}"
    );
    assert!(s.contains("1 match · n/N"), "{s}");
    // A word several names share: the count is the view's.
    let word = names[0].split_whitespace().last().unwrap().to_string();
    let want = names
        .iter()
        .zip(&ids)
        .filter(|(n, i)| {
            n.to_lowercase().contains(&word.to_lowercase())
                || i.to_lowercase().contains(&word.to_lowercase())
        })
        .count();
    a.update(Action::Search);
    for c in word.chars() {
        a.update(Action::Input(c));
    }
    a.update(Action::Confirm);
    assert!(
        screen(&a, 120, 30).contains(&format!("{want} match")),
        "{want}"
    );
    // Filtered away: the message says the filters hide it.
    let owner = view_values(&a, "owner")[0].clone();
    let other = view_values(&a, "owner")
        .into_iter()
        .zip(&ids)
        .find(|(o, _)| *o != owner)
        .map(|(_, id)| id.clone())
        .unwrap();
    add_filter(&mut a, "owner", &owner);
    a.update(Action::Search);
    for c in other.chars() {
        a.update(Action::Input(c));
    }
    let s = screen(&a, 120, 30);
    assert!(
        s.contains("none in this view; 1 hidden by the filters"),
        "{s}"
    );
    a.update(Action::Confirm);
    a.update(Action::SearchNext);
    assert!(a.status.clone().unwrap().contains("the filters hide them"));
}

/// The header row of a screen (the line starting with the frozen "Account" title).
fn header_row(s: &str) -> String {
    s.lines()
        .find(|l| l.starts_with("\"Account"))
        .unwrap()
        .to_string()
}

#[test]
fn at_80_columns_the_cursor_scrolls_the_table_sideways_with_markers_and_sorts_what_it_shows() {
    use cge::tui::book::COLUMNS;
    let mut a = crate::tui_scores::scored_app();
    a.update(Action::Resize(80, 24));
    let s = screen(&a, 80, 24);
    let head = header_row(&s);
    assert!(
        head.contains("AtRisk▼") && head.contains('›') && !head.contains('‹'),
        "{head}"
    );
    // Walk the cursor to the last column: every column, in turn, is on screen with the
    // frozen account column, and `]` sorts by it with its arrow in view.
    let shown: Vec<usize> = (0..COLUMNS.len()).collect();
    let mut visited = vec![false; COLUMNS.len()];
    for _ in 0..shown.len() {
        let c = a.column;
        let s = screen(&a, 80, 24);
        let head = header_row(&s);
        assert!(head.starts_with("\"Account"), "{head}");
        assert!(
            head.contains(COLUMNS[c].title),
            "{} not on screen: {head}",
            COLUMNS[c].title
        );
        visited[c] = true;
        a.update(Action::ColumnRight);
    }
    assert!(visited.iter().all(|&v| v), "every column reached");
    let s = screen(&a, 80, 24);
    let head = header_row(&s);
    assert!(
        head.contains('‹') && !head.contains('›'),
        "scrolled to the end: {head}"
    );
    assert!(head.contains("Industry"), "{head}");
    a.update(Action::SortDescending);
    assert!(header_row(&screen(&a, 80, 24)).contains("Industry▼"));
    // A click on a scrolled header sorts that column.
    let area = cge::tui::ui::table_area(&a).unwrap();
    let cols = cge::tui::ui::visible_columns(area, &a.config.columns, true, a.col_offset).cols;
    let (c, x, _) = cols[1];
    let action = a
        .mouse_action(cge::tui::app::MouseKind::Click, x, area.y)
        .unwrap();
    assert_eq!(action, Action::SortBy(c));
    // Back to the left edge: the markers swap back.
    for _ in 0..COLUMNS.len() {
        a.update(Action::ColumnLeft);
    }
    let head = header_row(&screen(&a, 80, 24));
    assert!(!head.contains('‹') && head.contains('›'), "{head}");
}

#[test]
fn at_60_columns_the_account_risk_and_arr_stay_in_view() {
    let mut a = crate::tui_scores::scored_app();
    a.update(Action::Resize(60, 15));
    let head = header_row(&screen(&a, 60, 15));
    for title in ["Account", "Churn", "Rule", "ARR"] {
        assert!(head.contains(title), "{title}: {head}");
    }
}

#[test]
fn snapshots_at_80x24_and_60x15() {
    let mut a = crate::tui_scores::scored_app();
    a.update(Action::Resize(80, 24));
    insta::assert_snapshot!("scored_80x24", screen(&a, 80, 24));
    for _ in 0..8 {
        a.update(Action::ColumnRight);
    }
    insta::assert_snapshot!("scored_80x24_scrolled", screen(&a, 80, 24));
    a.update(Action::ToggleDetail);
    insta::assert_snapshot!("scored_80x24_detail", screen(&a, 80, 24));
    let mut a = crate::tui_scores::scored_app();
    a.update(Action::Resize(60, 15));
    insta::assert_snapshot!("scored_60x15", screen(&a, 60, 15));
    a.update(Action::Help);
    insta::assert_snapshot!("help_60x15", screen(&a, 60, 15));
}

fn type_text(a: &mut App, text: &str) {
    for c in text.chars() {
        a.update(Action::Input(c));
    }
}

fn menu(a: &App) -> &cge::tui::app::FilterMenu {
    match &a.mode {
        Mode::Filter(m) => m,
        other => panic!("no filter menu: {other:?}"),
    }
}

#[test]
fn the_picker_counts_what_each_value_would_keep_under_the_other_filters() {
    let mut a = app();
    add_filter(&mut a, "plan", "Pro");
    let owners = view_values(&a, "owner");
    a.update(Action::FilterMenu);
    type_text(&mut a, "owner");
    assert_eq!(menu(&a).shown.len(), 1, "typing narrows the kinds");
    a.update(Action::Confirm);
    let m = menu(&a);
    assert!(!m.shown.is_empty());
    for &i in &m.shown {
        let o = &m.options[i];
        let want = owners.iter().filter(|w| **w == o.label).count();
        assert_eq!(o.count, Some(want), "{}", o.label);
    }
    let total: usize = m.shown.iter().filter_map(|&i| m.options[i].count).sum();
    assert_eq!(total, owners.len(), "each Pro account has one owner");
}

#[test]
fn typing_narrows_the_values_and_enter_adds_the_one_left() {
    let mut a = app();
    let levels = view_values(&a, "engagement_level");
    a.update(Action::FilterMenu);
    type_text(&mut a, "engag");
    a.update(Action::Confirm);
    type_text(&mut a, "HI");
    let m = menu(&a);
    let labels: Vec<&str> = m
        .shown
        .iter()
        .map(|&i| m.options[i].label.as_str())
        .collect();
    assert_eq!(labels, ["high"]);
    a.update(Action::InputBackspace);
    a.update(Action::InputBackspace);
    assert!(menu(&a).shown.len() > 1, "Backspace widens again");
    type_text(&mut a, "hig");
    a.update(Action::Confirm);
    let want = levels.iter().filter(|l| *l == "high").count();
    assert_eq!(a.book.as_ref().unwrap().len(), want);
    assert!(
        view_values(&a, "engagement_level")
            .iter()
            .all(|l| l == "high")
    );
    // Nothing matching: Enter says so and adds nothing.
    a.update(Action::FilterMenu);
    type_text(&mut a, "zzz");
    a.update(Action::Confirm);
    assert!(a.status.clone().unwrap().contains("nothing matches"));
    assert_eq!(a.book.as_ref().unwrap().filters.len(), 1);
}

#[test]
fn a_typed_arr_threshold_and_churn_percent_filter_at_least_that() {
    let mut a = crate::tui_scores::scored_app();
    let arr: Vec<f64> = view_values(&a, "total_arr")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    a.update(Action::FilterMenu);
    type_text(&mut a, "ARR");
    a.update(Action::Confirm);
    assert!(menu(&a).takes_number());
    type_text(&mut a, "250k");
    let want = arr.iter().filter(|&&v| v >= 250_000.0).count();
    let first = menu(&a).current().unwrap().clone();
    assert_eq!(first.label, "ARR ≥ $250.0k");
    assert_eq!(first.count, Some(want));
    a.update(Action::Confirm);
    assert_eq!(a.book.as_ref().unwrap().len(), want);
    assert!(
        view_values(&a, "total_arr")
            .iter()
            .all(|v| v.parse::<f64>().unwrap() >= 250_000.0)
    );
    // Churn risk ≥ 12 %, typed.
    let churn: Vec<f64> = view_values(&a, "churn_probability")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    a.update(Action::FilterMenu);
    type_text(&mut a, "churn");
    a.update(Action::Confirm);
    type_text(&mut a, "12");
    assert_eq!(menu(&a).current().unwrap().label, "churn risk ≥ 12 %");
    a.update(Action::Confirm);
    let want = churn.iter().filter(|&&p| p >= 0.12).count();
    assert_eq!(a.book.as_ref().unwrap().len(), want);
}

#[test]
fn bar_filters_to_the_value_under_the_cursor() {
    use cge::tui::book::COLUMNS;
    let col = |k: &str| COLUMNS.iter().position(|c| c.key == k).unwrap();
    let mut a = crate::tui_scores::scored_app();
    a.update(Action::Down);
    a.update(Action::Down);
    let id = a.selected_account().unwrap().to_string();
    let owner = a.book.as_ref().unwrap().raw(a.selected, "owner");
    let owners = view_values(&a, "owner");
    while a.column != col("owner") {
        a.update(Action::ColumnRight);
    }
    a.update(Action::FilterValue);
    assert_eq!(
        a.book.as_ref().unwrap().len(),
        owners.iter().filter(|o| **o == owner).count()
    );
    assert_eq!(
        a.selected_account(),
        Some(id.as_str()),
        "the row stays selected"
    );
    assert!(
        a.status
            .clone()
            .unwrap()
            .contains(&format!("owner: {owner}"))
    );
    // On a number column: at least the value under the cursor.
    let arr: f64 = a
        .book
        .as_ref()
        .unwrap()
        .raw(a.selected, "total_arr")
        .parse()
        .unwrap();
    let all: Vec<f64> = view_values(&a, "total_arr")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    while a.column != col("total_arr") {
        a.update(Action::ColumnLeft);
    }
    a.update(Action::FilterValue);
    assert_eq!(
        a.book.as_ref().unwrap().len(),
        all.iter().filter(|&&v| v >= arr).count()
    );
    assert!(screen(&a, 120, 30).contains("ARR ≥ "));
}

#[test]
fn any_filter_can_be_removed_from_the_bar() {
    let mut a = app();
    let all = a.book.as_ref().unwrap().len();
    add_filter(&mut a, "plan", "Pro");
    add_filter(&mut a, "engagement", "low");
    add_filter(&mut a, "support status", "healthy");
    a.update(Action::EditFilters);
    assert_eq!(a.mode, Mode::FilterBar(2));
    assert!(screen(&a, 120, 30).contains("Backspace/Enter remove"));
    a.update(Action::ColumnLeft);
    a.update(Action::PopFilter); // removes "engagement: low", the middle one
    let left: Vec<String> = a
        .book
        .as_ref()
        .unwrap()
        .filters
        .iter()
        .map(|f| f.describe())
        .collect();
    assert_eq!(left, ["plan: Pro", "support status: healthy"]);
    let (plans, support) = (
        view_values(&a, "plan_tier"),
        view_values(&a, "escalation_health_status"),
    );
    assert!(plans.iter().all(|p| p == "Pro") && support.iter().all(|s| s == "healthy"));
    a.update(Action::Confirm);
    a.update(Action::Confirm);
    assert_eq!(a.mode, Mode::Normal, "the last one removed closes the bar");
    assert_eq!(a.book.as_ref().unwrap().len(), all);
}

#[test]
fn text_fields_edit_like_a_shell_in_the_search_the_export_path_and_the_picker() {
    use cge::tui::key_action;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let ctrl = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let press = |a: &mut App, k: KeyEvent| {
        if let Some(action) = key_action(a, &k) {
            a.update(action);
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut a = crate::tui::app_with(tmp.path());
    // Outside a text field the same keys move the column cursor.
    assert_eq!(
        key_action(&a, &key(KeyCode::Left)),
        Some(Action::ColumnLeft)
    );

    // Export: Ctrl-W drops the proposed file name, a new one is typed, Enter writes it.
    press(
        &mut a,
        KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE),
    );
    press(&mut a, ctrl('w'));
    for c in "mine.csv".chars() {
        press(&mut a, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    // Fix a typo in the middle: "mine.csv" → "my.csv".
    for _ in 0..4 {
        press(&mut a, key(KeyCode::Left));
    }
    press(&mut a, key(KeyCode::Backspace));
    press(&mut a, key(KeyCode::Backspace));
    press(&mut a, key(KeyCode::Backspace));
    press(
        &mut a,
        KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE),
    );
    press(&mut a, key(KeyCode::End));
    let Mode::Export(p) = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert_eq!(
        p.input.as_str(),
        tmp.path().join("my.csv").display().to_string()
    );
    press(&mut a, key(KeyCode::Enter));
    assert!(tmp.path().join("my.csv").exists(), "{:?}", a.status);

    // Search: Home, a letter at the front, Ctrl-U clears what is before the cursor.
    press(
        &mut a,
        KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE),
    );
    for c in "ab".chars() {
        press(&mut a, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    press(&mut a, ctrl('a'));
    press(
        &mut a,
        KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE),
    );
    let Mode::Search { query, .. } = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert_eq!((query.as_str(), query.cursor()), ("zab", 1));
    assert!(screen(&a, 120, 30).contains("search: z▏ab"));
    press(&mut a, ctrl('u'));
    press(&mut a, ctrl('e'));
    let Mode::Search { query, .. } = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert_eq!(query.as_str(), "ab");
    press(&mut a, key(KeyCode::Esc));

    // The picker's text takes the same keys; letters never move the list.
    press(
        &mut a,
        KeyEvent::new(KeyCode::Char('f'), KeyModifiers::NONE),
    );
    for c in "planx".chars() {
        press(&mut a, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    assert!(menu(&a).shown.is_empty());
    press(&mut a, key(KeyCode::Backspace));
    assert_eq!(menu(&a).shown.len(), 1);
    press(&mut a, ctrl('w'));
    assert!(menu(&a).query.is_empty() && menu(&a).shown.len() > 1);
}

#[test]
fn a_sort_keeps_the_previous_sort_within_its_ties() {
    use cge::tui::book::COLUMNS;
    let col = |k: &str| COLUMNS.iter().position(|c| c.key == k).unwrap();
    let rank = |v: &str, ranks: &[&str]| ranks.iter().position(|r| *r == v).unwrap();
    let mut a = app();
    a.update(Action::SortBy(col("engagement_level"))); // high first
    a.update(Action::SortBy(col("plan_tier"))); // Enterprise first
    let s = screen(&a, 160, 30);
    assert!(
        header_row(&s).contains("Plan▼") && header_row(&s).contains("Engage▽"),
        "{}",
        header_row(&s)
    );
    let plans = view_values(&a, "plan_tier");
    let levels = view_values(&a, "engagement_level");
    let (p, e) = (cge::tui::book::PLANS, cge::tui::book::ENGAGEMENT);
    let mut ties = 0;
    for i in 1..plans.len() {
        assert!(rank(&plans[i - 1], p) >= rank(&plans[i], p), "plan order");
        if plans[i - 1] == plans[i] {
            ties += 1;
            assert!(
                rank(&levels[i - 1], e) >= rank(&levels[i], e),
                "row {i}: within {} engagement {} before {}",
                plans[i],
                levels[i - 1],
                levels[i]
            );
        }
    }
    assert!(ties > 10, "the fixture has ties to order");
    // Reversing the plan keeps engagement as the tie-break.
    a.update(Action::SortReverse);
    assert!(header_row(&screen(&a, 160, 30)).contains("Engage▽"));
}

#[test]
fn me_in_the_config_opens_on_my_book_and_backspace_shows_everyone() {
    let everyone = view_values(&app(), "owner");
    let me = everyone[5].clone();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::write(&path, format!("me = {me:?}\n")).unwrap();
    let config = cge::tui::Config::load(Some(&path), true, true).unwrap();
    let mut a = crate::tui::app_configured(config, tmp.path());
    let mine = view_values(&a, "owner");
    assert_eq!(mine.len(), everyone.iter().filter(|o| **o == me).count());
    assert!(mine.iter().all(|o| *o == me));
    assert!(
        a.status.clone().unwrap().contains("your book"),
        "{:?}",
        a.status
    );
    assert!(screen(&a, 120, 30).contains(&format!("filters: owner: {me}")));
    a.update(Action::PopFilter);
    assert_eq!(a.book.as_ref().unwrap().len(), everyone.len());

    // A name that owns nothing here: every account, and a message saying why.
    std::fs::write(&path, "me = \"Nobody Here\"\n").unwrap();
    let config = cge::tui::Config::load(Some(&path), true, true).unwrap();
    let a = crate::tui::app_configured(config, tmp.path());
    assert_eq!(a.book.as_ref().unwrap().len(), everyone.len());
    assert!(a.status.clone().unwrap().contains("owns no account"));
}

#[test]
fn help_has_a_column_legend_with_units_and_no_usage_shows_no_trend_arrow() {
    use cge::tui::book::COLUMNS;
    let mut a = crate::tui_scores::scored_app();
    a.update(Action::Resize(200, 120));
    a.update(Action::Help);
    let s = screen(&a, 200, 120);
    for c in COLUMNS {
        let start: String = cge::tui::book::legend(c).chars().take(30).collect();
        assert!(
            s.lines()
                .any(|l| l.contains(&format!("│ {:<9}{start}", c.title))),
            "{} not in the legend:\n{s}",
            c.title
        );
    }
    for c in COLUMNS {
        // The key config.toml's `columns` takes, beside the title.
        assert!(s.contains(&format!("[{}]", c.key)), "{}'s key", c.title);
    }
    for want in [
        "Days to the next renewal",
        "(days)",
        "↑999% caps",
        "— no usage",
    ] {
        assert!(s.contains(want), "{want} missing:\n{s}");
    }
    // The trend column: "—" exactly for accounts without usage (no trend), never "→".
    let a = crate::tui_scores::scored_app();
    let book = a.book.as_ref().unwrap();
    let trend = COLUMNS
        .iter()
        .position(|c| c.key == "usage_velocity_30day")
        .unwrap();
    let mut idle = 0;
    for r in 0..book.len() {
        let v: f64 = book.raw(r, "usage_velocity_30day").parse().unwrap();
        let days: f64 = book.raw(r, "active_days_30d").parse().unwrap_or(0.0);
        let none = v == 0.0 && days == 0.0;
        idle += usize::from(none);
        assert_eq!(book.cell(r, trend) == "—", none, "row {r}: {v} {days}");
    }
    assert!(idle > 0, "the fixture has accounts without usage");
}

#[test]
fn tab_in_the_export_prompt_writes_the_cells_as_on_screen() {
    use cge::tui::book::COLUMNS;
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    // One account without an escalation score: "-" on screen, an empty cell in the file.
    let mut run = crate::tui_scores::scored().2.clone();
    let esc = run
        .book
        .column("escalation_probability")
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    let holed: Float64Chunked = esc
        .iter()
        .enumerate()
        .map(|(i, v)| if i == 0 { None } else { v })
        .collect();
    run.book
        .replace(
            "escalation_probability",
            holed
                .with_name("escalation_probability".into())
                .into_column(),
        )
        .unwrap();
    let mut a = crate::tui_scores::scored_app();
    a.set_run(&run).unwrap();
    a.export_dir = tmp.path().to_path_buf();
    a.update(Action::Export);
    assert!(screen(&a, 120, 30).contains("values: raw values"));
    a.update(Action::SwitchFocus); // Tab
    assert!(screen(&a, 120, 30).contains("values: as on screen"));
    a.update(Action::Confirm);
    let file = crate::tui::exported_file(tmp.path());
    let mut r = crate::tui::exported_csv(&a, tmp.path());
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let titles: Vec<&str> = std::iter::once("Account ID")
        .chain(COLUMNS.iter().map(|c| c.title))
        .collect();
    assert_eq!(headers, titles);
    // Row by row, cell by cell, what the table shows ("-", no value, as an empty cell).
    let book = a.book.as_ref().unwrap();
    let mut holes = 0;
    for (row, rec) in r.records().enumerate() {
        let rec = rec.unwrap();
        assert_eq!(&rec[0], book.account_id(row).unwrap());
        for c in 0..COLUMNS.len() {
            let shown = book.cell(row, c);
            if shown == "-" {
                holes += 1;
                assert_eq!(&rec[c + 1], "", "row {row} column {}", COLUMNS[c].title);
            } else {
                assert_eq!(rec[c + 1], shown, "row {row} column {}", COLUMNS[c].title);
            }
        }
    }
    assert_eq!(holes, 1, "the account without an escalation score");
    let money = headers.iter().position(|h| h == "ARR").unwrap();
    let first = csv::Reader::from_path(&file)
        .unwrap()
        .records()
        .next()
        .unwrap()
        .unwrap();
    assert!(first[money].starts_with('$'), "{:?}", &first[money]);
}

#[test]
fn flags_read_yes_or_no_in_the_detail_as_their_meanings_say() {
    use cge::features::dictionary::{FEATURES, Kind};
    let flags: Vec<_> = FEATURES.iter().filter(|f| f.kind == Kind::Flag).collect();
    assert!(flags.len() >= 3);
    for f in &flags {
        assert!(
            f.meaning.starts_with("Yes (1) when") && f.meaning.contains("no (0)"),
            "{}: {}",
            f.name,
            f.meaning
        );
    }
    let mut a = app();
    a.update(Action::Resize(160, 80));
    a.update(Action::ToggleDetail);
    let s = screen(&a, 160, 80);
    for f in &flags {
        let line = s
            .lines()
            .find(|l| l.contains(&format!("  {:<27}", f.name)))
            .unwrap_or_else(|| panic!("{} not in the detail:\n{s}", f.name));
        let value = line
            .split(f.name)
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches(['│', '"']);
        assert!(
            value.trim() == "yes" || value.trim() == "no",
            "{}: {value:?}",
            f.name
        );
    }
}

#[test]
fn columns_in_the_config_choose_what_the_table_shows_and_exports_in_that_order() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::write(
        &path,
        "columns = [\"owner\", \"total_arr\", \"compound_churn_risk_score\"]\n",
    )
    .unwrap();
    let config = cge::tui::Config::load(Some(&path), true, true).unwrap();
    let mut a = crate::tui::app_configured(config, tmp.path());
    let head = header_row(&screen(&a, 120, 30));
    let titles: Vec<&str> = head.trim_matches('"').split_whitespace().collect();
    assert_eq!(titles, ["Account", "Owner", "ARR", "Rule▼"], "{head}");
    a.update(Action::ColumnRight);
    a.update(Action::ColumnRight);
    a.update(Action::SortDescending);
    assert!(header_row(&screen(&a, 120, 30)).contains("ARR▼"));
    a.update(Action::Export);
    a.update(Action::Confirm);
    let file = crate::tui::exported_file(tmp.path());
    let mut r = csv::Reader::from_path(&file).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers,
        [
            "account_id",
            "account_name",
            "owner",
            "total_arr",
            "compound_churn_risk_score"
        ]
    );
}

#[test]
fn my_book_chosen_once_in_the_owner_picker_is_saved_and_opens_next_time() {
    use cge::tui::key_action;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let press = |a: &mut App, code: KeyCode, m: KeyModifiers| {
        if let Some(action) = key_action(a, &KeyEvent::new(code, m)) {
            a.update(action);
        }
    };
    let type_in = |a: &mut App, text: &str| {
        for c in text.chars() {
            press(a, KeyCode::Char(c), KeyModifiers::NONE);
        }
    };
    let everyone = view_values(&app(), "owner");
    let me = everyone[5].clone();
    let tmp = tempfile::tempdir().unwrap();
    // No config file yet (nor its folder): the default location.
    let path = tmp.path().join("cge/config.toml");
    let config = cge::tui::Config::load(Some(&path), false, true).unwrap();
    let mut a = crate::tui::app_configured(config, tmp.path());
    assert_eq!(a.book.as_ref().unwrap().len(), everyone.len());

    // Ctrl-s outside the owner picker saves nothing and says what it is for.
    press(&mut a, KeyCode::Char('f'), KeyModifiers::NONE);
    type_in(&mut a, "plan");
    press(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    press(&mut a, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(a.status.clone().unwrap().contains("choose \"owner\" first"));
    assert!(!path.exists());
    press(&mut a, KeyCode::Esc, KeyModifiers::NONE);

    // f → owner → type the name → Ctrl-s: saved, and the view is that owner's book.
    press(&mut a, KeyCode::Char('f'), KeyModifiers::NONE);
    type_in(&mut a, "owner");
    press(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    assert!(screen(&a, 120, 30).contains("Ctrl-s my book"));
    type_in(&mut a, &me);
    press(&mut a, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(a.mode, Mode::Normal);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("me = {me:?}\n"));
    let mine = view_values(&a, "owner");
    assert_eq!(mine.len(), everyone.iter().filter(|o| **o == me).count());
    assert!(mine.iter().all(|o| *o == me));
    assert!(
        a.status.clone().unwrap().contains("saved me"),
        "{:?}",
        a.status
    );

    // The next start opens on it; the picker marks it.
    let config = cge::tui::Config::load(Some(&path), false, true).unwrap();
    assert_eq!(config.me.as_deref(), Some(me.as_str()));
    let mut b = crate::tui::app_configured(config, tmp.path());
    assert_eq!(view_values(&b, "owner"), mine);
    press(&mut b, KeyCode::Char('f'), KeyModifiers::NONE);
    type_in(&mut b, "owner");
    press(&mut b, KeyCode::Enter, KeyModifiers::NONE);
    assert!(screen(&b, 120, 40).contains(&format!("{me} · my book")));

    // Ctrl-s on the saved owner removes it: the next start shows every account.
    type_in(&mut b, &me);
    press(&mut b, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(b.status.clone().unwrap().contains("removed me"));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("me ="));
    let config = cge::tui::Config::load(Some(&path), false, true).unwrap();
    assert_eq!(config.me, None);

    // Without a config location there is nowhere to save: said, nothing changes.
    let mut c = app();
    press(&mut c, KeyCode::Char('f'), KeyModifiers::NONE);
    type_in(&mut c, "owner");
    press(&mut c, KeyCode::Enter, KeyModifiers::NONE);
    press(&mut c, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(c.status.clone().unwrap().contains("no config folder"));
    assert_eq!(c.book.as_ref().unwrap().len(), everyone.len());
}
