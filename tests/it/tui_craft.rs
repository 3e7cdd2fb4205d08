//! The TUI's craft (issue 13): each observed defect has a test here that failed before its
//! fix — scrolling that ends, keys that act on the pane with the focus, a highlight that
//! stays, help that fits any size, and no keys acting on a screen too small to see.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

use cge::features::dictionary::{FEATURES, Group};
use cge::tui::app::Mode;
use cge::tui::{Action, App};

use crate::tui::{app, screen};

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
    for _ in 0..60 {
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
        seen.contains("AtRisk = churn × ARR"),
        "the legend's end is reachable"
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
