//! Drawing: a pure function of the [`App`] state. Rows are built only for the visible slice.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, GraphType, LegendPosition, LineGauge, List,
    ListItem, ListState, Paragraph, Row, Table, Wrap,
};

use super::app::{App, DETAIL_WIDTH, MIN_HEIGHT, MIN_WIDTH, Mode, SPARK_WEEKS, Scrolled};
use super::book::{COLUMNS, Fmt, format_number};
use crate::features::dictionary::{self, Group, Kind};
use crate::models::evaluate::Evaluation;
use crate::pipeline::run::RunReport;

/// Rows of the body: the screen minus header, filter bar and footer.
pub fn body_height(height: u16) -> u16 {
    height.saturating_sub(3)
}

/// The detail pane sits beside the table when the terminal is wide enough, else below it.
pub fn detail_beside(width: u16) -> bool {
    width >= 110
}

/// Header, filter bar, body and footer.
fn split(area: Rect) -> (Rect, Rect, Rect, Rect) {
    let [header, bar, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    (header, bar, body, footer)
}

/// Table and detail areas of the body.
fn body_split(app: &App, body: Rect) -> (Rect, Option<Rect>) {
    if !app.show_detail {
        return (body, None);
    }
    if detail_beside(body.width) {
        let [t, d] =
            Layout::horizontal([Constraint::Min(40), Constraint::Length(DETAIL_WIDTH)]).areas(body);
        (t, Some(d))
    } else {
        let [t, d] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
        (t, Some(d))
    }
}

/// Where the accounts table is drawn (for mouse hit tests), if it is.
pub fn table_area(app: &App) -> Option<Rect> {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    if too_small(area) || app.book.as_ref().is_none_or(|b| b.total() == 0) {
        return None;
    }
    let (_, _, body, _) = split(area);
    Some(body_split(app, body).0)
}

/// The table's columns on screen: the frozen first column (the account), then the
/// scrolled ones from `first` (an index into [`scrollable`]) while they fit, each with its
/// x and width; whether columns are cut on the left (‹) and on the right (›).
#[derive(Debug, Clone, PartialEq)]
pub struct ShownColumns {
    pub cols: Vec<(usize, u16, u16)>,
    pub cut_left: bool,
    pub cut_right: bool,
}

/// The columns after the frozen one that this book shows, in the configured `order` (a
/// model run's only when `scored`).
pub fn scrollable(order: &[usize], scored: bool) -> Vec<usize> {
    order
        .iter()
        .copied()
        .filter(|&i| i != 0 && (scored || !COLUMNS[i].model))
        .collect()
}

pub fn visible_columns(area: Rect, order: &[usize], scored: bool, first: usize) -> ShownColumns {
    let right = area.x + area.width;
    let frozen = COLUMNS[0].width.min(area.width);
    let mut cols = vec![(0, area.x, frozen)];
    // One column between the frozen and the scrolled ones holds the ‹ marker.
    let mut x = area.x + frozen + 1;
    let rest = scrollable(order, scored);
    let first = first.min(rest.len().saturating_sub(1));
    let mut cut_right = false;
    for (k, &i) in rest.iter().enumerate().skip(first) {
        let w = COLUMNS[i].width;
        // Keep the last screen column for the › marker unless this is the last column.
        let need = if k + 1 < rest.len() { w + 1 } else { w };
        if x + need > right {
            cut_right = true;
            break;
        }
        cols.push((i, x, w));
        x += w + 1;
    }
    ShownColumns {
        cols,
        cut_left: first > 0,
        cut_right,
    }
}

pub fn column_at(area: Rect, x: u16, app: &App) -> Option<usize> {
    let scored = app.book.as_ref().is_some_and(super::book::Book::scored);
    visible_columns(area, &app.config.columns, scored, app.col_offset)
        .cols
        .into_iter()
        .find(|&(_, cx, w)| x >= cx && x < cx + w)
        .map(|(i, _, _)| i)
}

fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if too_small(area) {
        let msg = format!(
            "Terminal too small: cge needs at least {MIN_WIDTH}×{MIN_HEIGHT}, this one is {}×{}.\nEnlarge the window, or press q to quit.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let (header, bar, body, footer) = split(area);
    draw_header(f, app, header);
    draw_bar(f, app, bar);
    match app.book.as_ref() {
        Some(book) if book.total() > 0 => {
            let (table, detail) = body_split(app, body);
            draw_table(f, app, table);
            if let Some(d) = detail {
                draw_detail(f, app, d);
            }
        }
        _ => draw_empty(f, app, body),
    }
    draw_footer(f, app, footer);
    match &app.mode {
        Mode::Help(scroll) => draw_help(f, app, *scroll, area),
        Mode::Filter(menu) => draw_filter_menu(f, app, menu, area),
        Mode::Export(prompt) => draw_export(f, app, prompt, area),
        Mode::Report(scroll) => {
            let [_, body, _] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Min(1),
                Constraint::Length(1),
            ])
            .areas(area);
            draw_report(f, app, *scroll, body)
        }
        _ => {}
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.config.theme;
    let mut spans = vec![Span::styled(" cge ", t.header())];
    if app.sample {
        spans.push(Span::styled(
            " SAMPLE DATA ",
            t.fg(t.warn)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    let what = match &app.book {
        Some(b) => {
            let source = match b.run_id {
                Some(id) => format!("run {id}"),
                None => "rule scores".into(),
            };
            format!(
                " {} active accounts · as of {} · {source}",
                thousands(b.total()),
                b.as_of
            )
        }
        None => " no golden record yet".to_string(),
    };
    spans.push(Span::styled(what, t.header()));
    let title = Line::from(spans);
    match &app.job {
        Some(p) => {
            let [left, right] =
                Layout::horizontal([Constraint::Min(20), Constraint::Length(46)]).areas(area);
            f.render_widget(title, left);
            let label = format!("{} {}%", p.stage, p.percent);
            f.render_widget(
                LineGauge::default()
                    .ratio(p.percent as f64 / 100.0)
                    .label(label)
                    .filled_style(t.fg(t.accent).add_modifier(Modifier::BOLD)),
                right,
            );
        }
        None => f.render_widget(title, area),
    }
}

/// 8083 → "8,083".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn draw_bar(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.config.theme;
    let mut spans = match &app.mode {
        Mode::Search { query, .. } => vec![
            Span::styled(" search: ", t.fg(t.accent)),
            Span::raw(query.with_cursor()),
        ],
        Mode::FilterBar(at) => {
            let mut spans = vec![Span::styled(" filters: ", t.fg(t.accent))];
            let filters = app.book.as_ref().map_or(&[][..], |b| &b.filters[..]);
            for (i, filter) in filters.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::raw(" · "));
                }
                let style = if i == *at { t.selected() } else { Style::new() };
                spans.push(Span::styled(filter.describe(), style));
            }
            spans.push(Span::styled(
                "  h/l choose · Backspace/Enter remove · Esc done",
                t.fg(t.muted),
            ));
            spans
        }
        _ => {
            let filters = app.book.as_ref().map(filter_text).unwrap_or_default();
            if filters.is_empty() {
                vec![Span::styled(" all accounts (f to filter)", t.fg(t.muted))]
            } else {
                vec![
                    Span::styled(" filters: ", t.fg(t.accent)),
                    Span::raw(filters),
                    Span::styled(
                        "  (Backspace removes the last, F chooses one)",
                        t.fg(t.muted),
                    ),
                ]
            }
        }
    };
    let query = match &app.mode {
        Mode::Search { query, .. } => query.as_str(),
        _ => app.last_search.as_str(),
    };
    if !query.is_empty() {
        let (in_view, whole) = app.search_hits;
        let what = if in_view > 0 {
            let searching = matches!(app.mode, Mode::Search { .. });
            format!(
                "  {in_view} match{}{}",
                if in_view == 1 { "" } else { "es" },
                if searching {
                    " (name or id) · Enter keeps it"
                } else {
                    " · n/N next/previous · Esc clears"
                }
            )
        } else if whole > 0 {
            format!("  none in this view; {whole} hidden by the filters")
        } else {
            "  no account matches (name or id)".into()
        };
        if !matches!(app.mode, Mode::Search { .. }) {
            spans.push(Span::styled(format!("  search {query:?}"), t.fg(t.accent)));
        }
        let style = if in_view > 0 {
            t.fg(t.muted)
        } else {
            t.fg(t.warn)
        };
        spans.push(Span::styled(what, style));
    }
    f.render_widget(Line::from(spans), area);
}

/// The filters as the bar shows them: values of one field joined by "or", fields by "›".
fn filter_text(book: &super::book::Book) -> String {
    let mut fields: Vec<(&str, Vec<String>)> = Vec::new();
    for f in &book.filters {
        match fields.iter_mut().find(|(k, _)| *k == f.field()) {
            Some((_, v)) => v.push(f.parts().1),
            None => fields.push((f.field(), vec![f.describe()])),
        }
    }
    fields
        .into_iter()
        .map(|(_, v)| v.join(" or "))
        .collect::<Vec<_>>()
        .join(" › ")
}

fn score_style(app: &App, key: &str, text: &str) -> Style {
    let t = &app.config.theme;
    let v: f64 = text
        .trim_end_matches(['%', '▲', '▼'])
        .parse()
        .unwrap_or(-1.0);
    match key {
        "churn_probability" if v >= 50.0 => t.fg(t.bad),
        "churn_probability" if v >= 25.0 => t.fg(t.warn),
        "escalation_probability" if v >= 50.0 => t.fg(t.warn),
        "crosssell_score" if v >= 75.0 => t.fg(t.good),
        "next_best_action" if text.starts_with("Urgent") => t.fg(t.bad),
        "compound_churn_risk_score" if v >= 50.0 => t.fg(t.bad),
        "compound_churn_risk_score" if v >= 25.0 => t.fg(t.warn),
        "crosssell_readiness_score" if v >= 60.0 => t.fg(t.good),
        "escalation_health_status" => match text {
            "critical" => t.fg(t.bad),
            "at_risk" => t.fg(t.warn),
            _ => Style::new(),
        },
        _ => Style::new(),
    }
}

fn draw_table(f: &mut Frame, app: &App, area: Rect) {
    let Some(book) = app.book.as_ref() else {
        return;
    };
    let t = &app.config.theme;
    let shown = visible_columns(area, &app.config.columns, book.scored(), app.col_offset);
    let cols = &shown.cols;
    let sort = book.sort;
    let header = Row::new(cols.iter().map(|&(i, _, _)| {
        let c = &COLUMNS[i];
        // The sort's arrow; the earlier sorts that order its ties, hollow.
        let arrow = match sort {
            Some((s, true)) if s == i => "▼",
            Some((s, false)) if s == i => "▲",
            _ => match book.then.iter().find(|(c, _)| *c == i) {
                Some((_, true)) => "▽",
                Some((_, false)) => "△",
                None => "",
            },
        };
        let mut style = t.header();
        if i == app.column {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        Cell::from(format!("{}{arrow}", c.title)).style(style)
    }));
    let rows_visible = area.height.saturating_sub(1) as usize;
    let end = (app.offset + rows_visible).min(book.len());
    let rows = (app.offset..end).map(|r| {
        let cells = cols.iter().map(|&(i, _, _)| {
            let text = book.cell(r, i);
            let style = score_style(app, COLUMNS[i].key, &text);
            Cell::from(text).style(style)
        });
        let row = Row::new(cells);
        if r == app.selected {
            // Highlighted whichever pane has the focus: the detail is about this row.
            row.style(t.selected())
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&(_, _, w)| Constraint::Length(w))
        .collect();
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
    // Where columns are cut: ‹ after the frozen account column, › at the right edge.
    let marker = t.fg(t.accent).add_modifier(Modifier::BOLD);
    if shown.cut_left {
        let x = area.x + cols[0].2;
        f.render_widget(Span::styled("‹", marker), Rect::new(x, area.y, 1, 1));
    }
    if shown.cut_right && area.width > 0 {
        let x = area.x + area.width - 1;
        f.render_widget(Span::styled("›", marker), Rect::new(x, area.y, 1, 1));
    }
    if book.is_empty() {
        let msg =
            Paragraph::new("No account matches the filters. Backspace removes the last filter.")
                .style(t.fg(t.muted));
        f.render_widget(msg, Rect::new(area.x, area.y + 2, area.width, 1));
    }
}

fn value_text(gr_col: &polars::prelude::Column, row: usize, kind: Kind, name: &str) -> String {
    use polars::prelude::AnyValue;
    match gr_col.get(row) {
        Ok(AnyValue::Null) | Err(_) => "—".into(),
        Ok(AnyValue::String(s)) => s.to_string(),
        Ok(AnyValue::Int64(v)) if kind == Kind::Flag => if v == 1 { "yes" } else { "no" }.into(),
        Ok(AnyValue::Int64(v)) => v.to_string(),
        Ok(AnyValue::Float64(v)) => {
            if name.ends_with("mrr") || name.ends_with("arr") || name == "mrr_change_90d" {
                format_number(v, Fmt::Money)
            } else if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        }
        Ok(other) => other.to_string(),
    }
}

fn draw_detail(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.config.theme;
    let Some(book) = app.book.as_ref() else {
        return;
    };
    let border = if app.focus_detail {
        t.fg(t.accent).add_modifier(Modifier::BOLD)
    } else {
        t.fg(t.muted)
    };
    let Some(row) = book.frame_row(app.selected) else {
        f.render_widget(
            Block::bordered().title(" detail ").border_style(border),
            area,
        );
        return;
    };
    let frame = book.frame();
    let get = |name: &str| {
        frame
            .column(name)
            .ok()
            .map(|c| value_text(c, row, Kind::Text, name))
            .unwrap_or_default()
    };
    let title = format!(" {} ", get("account_name"));
    let block = Block::bordered().title(title).border_style(border);
    let inner = block.inner(area);
    f.render_widget(block, area);

    let [info, rest] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(inner);
    f.render_widget(
        Paragraph::new(vec![
            Line::from(format!(
                "{} · {} · {}",
                get("account_id"),
                get("owner"),
                get("industry")
            )),
            Line::from(format!(
                "{} plan · {} billing · {}",
                get("plan_tier"),
                get("billing_frequency"),
                get("country")
            )),
        ])
        .style(t.fg(t.muted)),
        info,
    );

    let mut lines: Vec<Line> = Vec::new();
    let detail = app.detail.as_ref();
    if let Some(x) = detail.and_then(|d| d.explanation.as_ref()) {
        why_lines(app, x, &mut lines);
    } else if detail.is_some_and(|d| d.loading) {
        lines.push(Line::styled("loading…", t.fg(t.muted)));
        lines.push(Line::from(""));
    } else if let Some(d) = detail.filter(|_| !book.scored()) {
        rule_lines(app, d, &get, &mut lines);
    } else if book.scored() {
        lines.push(Line::styled(
            "no scores for this account in the run",
            t.fg(t.muted),
        ));
        lines.push(Line::from(""));
    }
    let weekly = detail.map(|d| d.weekly.as_slice()).unwrap_or_default();
    let max = weekly.iter().copied().max().unwrap_or(0);
    lines.push(Line::styled(
        format!("WEEKLY USAGE, LAST {SPARK_WEEKS} WEEKS (peak {max})"),
        t.header(),
    ));
    lines.push(Line::styled(
        format!("  {}", spark_text(weekly)),
        t.fg(t.accent),
    ));
    lines.push(Line::from(""));
    for g in Group::ALL {
        lines.push(Line::styled(g.label().to_uppercase(), t.header()));
        for feat in dictionary::FEATURES.iter().filter(|x| x.group == g) {
            let v = frame
                .column(feat.name)
                .map(|c| value_text(c, row, feat.kind, feat.name))
                .unwrap_or_default();
            let unit = if feat.unit.is_empty()
                || v == "—"
                || feat.kind == Kind::Text
                || v.starts_with('$')
            {
                String::new()
            } else {
                format!(" {}", feat.unit)
            };
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<27}", feat.name)),
                Span::styled(
                    format!("{v}{unit}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
            ]));
            if app.show_meanings {
                lines.push(Line::styled(format!("    {}", feat.meaning), t.fg(t.muted)));
            }
        }
    }
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    let scroll = scrolled(&app.detail_view, &text, rest, app.detail_scroll);
    f.render_widget(text.scroll((scroll, 0)), rest);
}

/// Record how far `text` can scroll in `area` (for the keys) and the scroll to draw:
/// `wanted`, but never past the last line.
fn scrolled(view: &std::cell::Cell<Scrolled>, text: &Paragraph, area: Rect, wanted: u16) -> u16 {
    let lines = text.line_count(area.width);
    let max = u16::try_from(lines.saturating_sub(area.height as usize)).unwrap_or(u16::MAX);
    view.set(Scrolled {
        max,
        page: area.height.saturating_sub(1).max(1),
    });
    wanted.min(max)
}

/// Weekly counts as one line of block characters, scaled to the peak.
pub fn spark_text(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return if values.is_empty() {
            "no usage data".into()
        } else {
            "no usage in these weeks".into()
        };
    }
    values
        .iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                BARS[((v * 7).div_ceil(max) as usize).min(7)]
            }
        })
        .collect()
}

/// Width of a driver's bar at the largest contribution shown.
const BAR_WIDTH: usize = 8;

/// A bar as long as `value` is against `max`, padded to [`BAR_WIDTH`].
fn bar(value: f64, max: f64) -> String {
    let n = if max > 0.0 {
        ((value.abs() / max) * BAR_WIDTH as f64).round() as usize
    } else {
        0
    };
    let n = n.clamp(1, BAR_WIDTH);
    format!("{}{}", "█".repeat(n), " ".repeat(BAR_WIDTH - n))
}

/// A driver as ▲/▼, a bar as long as its contribution against `max`, and its words.
fn driver_line(app: &App, d: &crate::models::churn::Driver, max: f64) -> Line<'static> {
    let t = &app.config.theme;
    let (arrow, style) = if d.contribution > 0.0 {
        ("▲", t.fg(t.bad))
    } else {
        ("▼", t.fg(t.good))
    };
    Line::from(vec![
        Span::styled(format!(" {arrow} {} ", bar(d.contribution, max)), style),
        Span::raw(d.words.clone()),
    ])
}

/// Without a model run, "why this score" lists the rules of the two rule scores that fired
/// for the account, with their points.
fn rule_lines(
    app: &App,
    d: &super::loader::Detail,
    get: &dyn Fn(&str) -> String,
    lines: &mut Vec<Line>,
) {
    use crate::features::compose::{CHURN_RULES, CROSSSELL_RULES, Rule};
    let t = &app.config.theme;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut block = |title: String, rules: &[Rule], fired: &[usize], none: &str| {
        lines.push(Line::styled(title, t.header()));
        if fired.is_empty() {
            lines.push(Line::styled(format!("  {none}"), t.fg(t.muted)));
        }
        for &i in fired {
            lines.push(Line::from(vec![
                Span::styled(format!("  +{:<3.0}", rules[i].points), bold),
                Span::raw(rules[i].words),
            ]));
        }
        let total: f64 = fired.iter().map(|&i| rules[i].points).sum();
        if total > 100.0 {
            lines.push(Line::styled(
                format!("  {total:.0} points, capped at 100"),
                t.fg(t.muted),
            ));
        }
        lines.push(Line::from(""));
    };
    block(
        format!(
            "WHY THIS RULE SCORE · churn risk {} of 100",
            get("compound_churn_risk_score")
        ),
        CHURN_RULES,
        &d.churn_rules,
        "no churn rule fired",
    );
    block(
        format!(
            "CROSS-SELL READINESS {} of 100 · {}",
            get("crosssell_readiness_score"),
            get("crosssell_readiness_status")
        ),
        CROSSSELL_RULES,
        &d.crosssell_rules,
        "no readiness rule fired",
    );
    lines.push(Line::styled(
        "rule scores only: press r to run the models",
        t.fg(t.muted),
    ));
    lines.push(Line::from(""));
}

/// The "why this score" block: drivers as bars with words, the next best action with its
/// evidence, why the score moved, and what to offer.
fn why_lines(app: &App, x: &crate::pipeline::stored::Explanation, lines: &mut Vec<Line>) {
    let t = &app.config.theme;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut head = vec![Span::styled(
        format!("Churn risk {:.0} %", x.churn_probability * 100.0),
        bold,
    )];
    if let Some(c) = &x.change {
        let moved = 100.0 * c.churn_delta.abs();
        let (text, style) = if moved < 0.05 {
            (
                format!("  unchanged since run {}", c.previous_run),
                t.fg(t.muted),
            )
        } else if c.churn_delta > 0.0 {
            (
                format!("  ▲ {moved:.1} pts since run {}", c.previous_run),
                t.fg(t.bad),
            )
        } else {
            (
                format!("  ▼ {moved:.1} pts since run {}", c.previous_run),
                t.fg(t.good),
            )
        };
        head.push(Span::styled(text, style));
    }
    lines.push(Line::from(head));
    lines.push(Line::styled("WHY THIS SCORE", t.header()));
    let shown = x.drivers.up.iter().chain(&x.drivers.down);
    let max = shown
        .clone()
        .map(|d| d.contribution.abs())
        .fold(0.0, f64::max);
    if x.drivers.up.is_empty() && x.drivers.down.is_empty() {
        lines.push(Line::styled(
            "  no drivers stored for this account",
            t.fg(t.muted),
        ));
    }
    for d in x.drivers.up.iter().chain(&x.drivers.down) {
        lines.push(driver_line(app, d, max));
    }
    if let Some(action) = &x.action {
        lines.push(Line::from(""));
        let queue = if x.queue.is_empty() {
            String::new()
        } else {
            format!(" ({})", x.queue)
        };
        lines.push(Line::from(vec![
            Span::styled("NEXT BEST ACTION ", t.header()),
            Span::styled(format!("{action}{queue}"), bold),
        ]));
        if let Some(e) = &x.evidence {
            for (label, text) in [
                ("signal", &e.signal),
                ("context", &e.context),
                ("play", &e.play),
            ] {
                if !text.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {label}: "), t.fg(t.muted)),
                        Span::raw(text.clone()),
                    ]));
                }
            }
        }
    }
    if let Some(c) = x
        .change
        .as_ref()
        .filter(|c| c.churn_delta.abs() >= 0.0005 || c.action_changed || !c.why.is_empty())
    {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!("WHY IT MOVED SINCE RUN {}", c.previous_run),
            t.header(),
        ));
        let mut what = format!("  was {:.1} %", 100.0 * c.churn_before);
        if c.action_changed {
            what.push_str(&format!(
                "; action was {}",
                c.action_before.as_deref().unwrap_or("none")
            ));
        }
        lines.push(Line::styled(what, t.fg(t.muted)));
        let max = c
            .why
            .iter()
            .map(|d| d.contribution.abs())
            .fold(0.0, f64::max);
        for d in &c.why {
            lines.push(driver_line(app, d, max));
        }
    }
    if !x.offers.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled("RECOMMENDED FEATURES", t.header()));
        for o in &x.offers {
            lines.push(Line::from(format!(
                "  {} (affinity {:.2})",
                o.feature, o.affinity
            )));
        }
    }
    if !x.lookalikes.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "ACCOUNTS LIKE THIS ONE, AND WHAT THEY DID",
            t.header(),
        ));
        for l in &x.lookalikes {
            lines.push(Line::styled(format!("  {l}"), t.fg(t.muted)));
        }
    }
    lines.push(Line::from(""));
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("—".into(), |x| format!("{x:.decimals$}"))
}

/// The metric rows of one model's backtest against its baselines.
fn metric_lines(b: &Evaluation, lines: &mut Vec<Line<'static>>) {
    lines.push(Line::from(format!(
        "  {:<16}{:>9}{:>9}{:>11}{:>9}",
        "", "model", "rule", "base rate", "oracle"
    )));
    let base_roc = Some(0.5);
    for (name, m, r, base, o, d) in [
        (
            "PR-AUC",
            b.pr_auc,
            b.rule_pr_auc,
            Some(b.base_rate),
            b.oracle_pr_auc,
            3,
        ),
        (
            "ROC-AUC",
            b.roc_auc,
            b.rule_roc_auc,
            base_roc,
            b.oracle_roc_auc,
            3,
        ),
        ("Brier", b.brier, None, b.base_rate_brier, None, 4),
        (
            "precision@10%",
            b.precision_at_10pct,
            b.rule_precision_at_10pct,
            Some(b.base_rate),
            None,
            3,
        ),
    ] {
        lines.push(Line::from(format!(
            "  {name:<16}{:>9}{:>9}{:>11}{:>9}",
            opt(m, d),
            opt(r, d),
            opt(base, d),
            opt(o, d)
        )));
    }
    if let Some(l) = b.lift_at_10pct.filter(|l| l.is_finite()) {
        lines.push(Line::from(format!(
            "  lift in the top 10 %: {l:.1}× the base rate ({} of {} accounts had the outcome)",
            b.positives, b.n
        )));
    }
}

/// Importance as bars: name, bar, share.
fn importance_lines(items: &[(String, f64)], k: usize, lines: &mut Vec<Line<'static>>) {
    let max = items.iter().take(k).map(|(_, v)| *v).fold(0.0, f64::max);
    for (name, v) in items.iter().take(k) {
        lines.push(Line::from(format!(
            "  {:<32} {} {:>4.1} %",
            dictionary_words(name),
            bar(*v, max),
            100.0 * v
        )));
    }
}

/// An input's name as the report shows it, in words, cut to the column.
fn dictionary_words(name: &str) -> String {
    let mut s = crate::models::dataset::label(name);
    if s.chars().count() > 32 {
        s = s.chars().take(31).collect::<String>() + "…";
    }
    s
}

/// The plain verdict on a backtest, in red when the model does not beat a baseline.
fn verdict_line(app: &App, b: &Evaluation, what: &str) -> Line<'static> {
    let t = &app.config.theme;
    let verdict = crate::pipeline::run::verdict(b, what);
    let style = if verdict.contains("NOT") {
        t.fg(t.bad).add_modifier(Modifier::BOLD)
    } else {
        t.fg(t.good)
    };
    Line::styled(format!("  {verdict}"), style)
}

fn report_lines(app: &App, r: &RunReport) -> Vec<Line<'static>> {
    let t = &app.config.theme;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let head = |s: String| Line::styled(s, t.header());
    let c = &r.churn;
    lines.push(head(format!(
        "CHURN MODEL · {}-day horizon · labels: {}",
        c.horizon_days, c.label_source
    )));
    let eval = c
        .eval_snapshot
        .map_or("out of fold".to_string(), |d| format!("as of {d}"));
    lines.push(Line::styled(
        format!(
            "  backtest {eval}: trained on {} earlier month-ends, scored on accounts and outcomes it never saw",
            c.backtest_train_snapshots.len()
        ),
        t.fg(t.muted),
    ));
    metric_lines(&c.backtest, &mut lines);
    lines.push(verdict_line(app, &c.backtest, "churners"));
    lines.push(Line::from(""));
    if let Some(e) = &r.escalation {
        lines.push(head(format!(
            "ESCALATION MODEL · escalated or urgent ticket within {} days",
            e.days
        )));
        metric_lines(&e.backtest, &mut lines);
        lines.push(verdict_line(app, &e.backtest, "escalations"));
        lines.push(Line::from(""));
    }
    lines.push(head(
        "WHAT DRIVES CHURN RISK (share of the model's gain)".into(),
    ));
    importance_lines(&c.importance, 8, &mut lines);
    lines.push(Line::from(""));
    lines.push(head(format!(
        "NEXT BEST ACTIONS · ARR at risk {}",
        format_number(r.arr_at_risk, Fmt::Money)
    )));
    for a in &r.actions {
        let queue = if a.urgent {
            format!(" ({} this week, {} queued)", a.this_week, a.queued)
        } else {
            String::new()
        };
        lines.push(Line::from(format!(
            "  {:<22}{:>7} accounts{queue} · at risk {} · expansion {}",
            a.action,
            thousands(a.accounts),
            format_number(a.arr_at_risk, Fmt::Money),
            format_number(a.expected_expansion, Fmt::Money)
        )));
    }
    lines.push(Line::from(""));
    let fc = &r.forecast;
    lines.push(head(format!(
        "BOOK FORECAST · gross revenue retention over {} days",
        fc.horizon_days
    )));
    lines.push(Line::from(format!("  {}", fc.book.describe())));
    lines.push(Line::styled(
        format!("  {}", fc.level_note()),
        t.fg(t.muted),
    ));
    for o in fc.by_owner.iter().take(8) {
        lines.push(Line::styled(format!("  {}", o.describe()), t.fg(t.muted)));
    }
    if let Some(check) = &r.forecast_backtest {
        let held = if check.within_interval {
            ("inside", t.fg(t.good))
        } else {
            ("OUTSIDE", t.fg(t.bad).add_modifier(Modifier::BOLD))
        };
        lines.push(Line::styled(
            format!(
                "  last quarter's forecast: expected loss {} (80 % interval {}–{}); realized {}: {} the interval",
                format_number(check.forecast.expected_loss, Fmt::Money),
                format_number(check.forecast.loss_low, Fmt::Money),
                format_number(check.forecast.loss_high, Fmt::Money),
                format_number(check.realized_loss, Fmt::Money),
                held.0
            ),
            held.1,
        ));
    }
    lines.push(Line::from(""));
    let x = &r.crosssell;
    lines.push(head("CROSS-SELL".into()));
    let beats = if x.hit_rate_at_3 > x.popularity_hit_rate_at_3 {
        "beats"
    } else {
        "does NOT beat"
    };
    lines.push(Line::from(format!(
        "  hidden adoptions found in the top 3: {:.1} % vs {:.1} % by popularity ({beats} it; {} accounts)",
        100.0 * x.hit_rate_at_3,
        100.0 * x.popularity_hit_rate_at_3,
        thousands(x.accounts_evaluated)
    )));
    lines.push(Line::from(""));
    lines.push(head("MAP OF THE BOOK".into()));
    lines.push(Line::styled(
        format!(
            "  each account of the view placed by its model inputs (PCA: across {:.0} %, up {:.0} % of their variance): close together = alike; coloured by churn risk, ◆ the selected account (filter to an owner to see their book)",
            100.0 * x.map_explained[0],
            100.0 * x.map_explained[1]
        ),
        t.fg(t.muted),
    ));
    if app.size.1 < 34 {
        lines.push(Line::styled(
            "  (the curves and the map need a taller window: 34 rows or more)",
            t.fg(t.muted),
        ));
    }
    lines
}

fn draw_report(f: &mut Frame, app: &App, scroll: u16, area: Rect) {
    let Some(r) = app.report.as_ref() else {
        return;
    };
    f.render_widget(Clear, area);
    let run = app
        .book
        .as_ref()
        .and_then(|b| b.run_id)
        .map_or(String::new(), |id| format!(" · run {id}"));
    let block = Block::bordered()
        .title(format!(" model report{run} · as of {} ", r.as_of))
        .title_bottom(" j/k scroll · Esc closes ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    // Charts on top when there is room: the curves and the map side by side on a wide
    // screen, the map on a row of its own on a tall one.
    let chart_h = if inner.height >= 30 { 12 } else { 0 };
    let beside = inner.width >= REPORT_THREE_CHARTS;
    let map_h = if chart_h > 0 && !beside && inner.height >= 44 {
        14
    } else {
        0
    };
    let [charts, map_row, text] = Layout::vertical([
        Constraint::Length(chart_h),
        Constraint::Length(map_h),
        Constraint::Min(1),
    ])
    .areas(inner);
    if chart_h > 0 {
        let panes = if beside { 3 } else { 2 };
        let areas = Layout::horizontal(vec![Constraint::Ratio(1, panes); panes as usize])
            .spacing(2)
            .split(charts);
        draw_pr_chart(f, app, r, areas[0]);
        draw_reliability(f, app, r, areas[1]);
        if beside {
            super::map::draw(f, app, areas[2]);
        }
    }
    if map_h > 0 {
        super::map::draw(f, app, map_row);
    }
    let lines = Paragraph::new(report_lines(app, r)).wrap(Wrap { trim: false });
    let scroll = scrolled(&app.overlay_view, &lines, text, scroll);
    f.render_widget(lines.scroll((scroll, 0)), text);
}

/// A line of a chart, drawn in Braille dots.
fn line_set<'a>(name: &'a str, style: Style, data: &'a [(f64, f64)]) -> Dataset<'a> {
    let set = Dataset::default();
    // Unnamed lines stay out of the legend.
    let set = if name.is_empty() { set } else { set.name(name) };
    set.graph_type(GraphType::Line)
        .marker(symbols::Marker::Braille)
        .style(style)
        .data(data)
}

/// A chart on the square [0, top]², axes titled `x` and `y`, labelled at 0, middle, top.
fn square_chart<'a>(
    title: &'a str,
    data: Vec<Dataset<'a>>,
    (x, y): (&'a str, &'a str),
    top: f64,
    legend: LegendPosition,
) -> Chart<'a> {
    let labels = || {
        if top == 1.0 {
            ["0".to_string(), "0.5".into(), "1".into()]
        } else {
            [
                "0".to_string(),
                format!("{:.2}", top / 2.0),
                format!("{top:.1}"),
            ]
        }
    };
    Chart::new(data)
        .block(Block::new().title(title))
        // The legend names the lines, in a corner the curves rarely reach.
        .legend_position(Some(legend))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(2, 3)))
        .x_axis(Axis::default().title(x).bounds([0.0, top]).labels(labels()))
        .y_axis(Axis::default().title(y).bounds([0.0, top]).labels(labels()))
}

/// The report's width from which the map sits beside the two charts.
pub const REPORT_THREE_CHARTS: u16 = 110;

/// Points of a chart line.
type Points = Vec<(f64, f64)>;

/// A model's precision–recall curve and its base-rate line.
fn pr_points(b: &Evaluation) -> (Points, Points) {
    (
        b.pr_curve.iter().map(|p| (p.recall, p.precision)).collect(),
        vec![(0.0, b.base_rate), (1.0, b.base_rate)],
    )
}

fn draw_pr_chart(f: &mut Frame, app: &App, r: &RunReport, area: Rect) {
    let t = &app.config.theme;
    let (churn, churn_base) = pr_points(&r.churn.backtest);
    let escalation = r.escalation.as_ref().map(|e| pr_points(&e.backtest));
    let mut data = vec![
        line_set("churn", t.fg(t.accent), &churn),
        line_set("base rates", t.fg(t.muted), &churn_base),
    ];
    if let Some((curve, base)) = &escalation {
        data.push(line_set("escalation", t.fg(t.warn), curve));
        data.push(line_set("", t.fg(t.muted), base));
    }
    f.render_widget(
        square_chart(
            " precision–recall (backtest) ",
            data,
            ("recall", "precision"),
            1.0,
            LegendPosition::TopRight,
        ),
        area,
    );
}

fn draw_reliability(f: &mut Frame, app: &App, r: &RunReport, area: Rect) {
    let t = &app.config.theme;
    let bins = |b: &Evaluation| -> Vec<(f64, f64)> {
        b.reliability
            .iter()
            .filter(|r| r.count > 0)
            .map(|r| (r.predicted, r.observed))
            .collect()
    };
    let churn = bins(&r.churn.backtest);
    let escalation = r
        .escalation
        .as_ref()
        .map(|e| bins(&e.backtest))
        .unwrap_or_default();
    let top = churn
        .iter()
        .chain(&escalation)
        .flat_map(|&(p, o)| [p, o])
        .fold(0.1_f64, f64::max);
    let top = (top * 10.0).ceil() / 10.0;
    let diagonal = [(0.0, 0.0), (top, top)];
    let scatter = |name, style, points| {
        Dataset::default()
            .name(name)
            .graph_type(GraphType::Scatter)
            .marker(symbols::Marker::Dot)
            .style(style)
            .data(points)
    };
    let mut data = vec![
        line_set("perfect", t.fg(t.muted), &diagonal),
        scatter("churn", t.fg(t.accent), &churn),
    ];
    if !escalation.is_empty() {
        data.push(scatter("escalation", t.fg(t.warn), &escalation));
    }
    f.render_widget(
        square_chart(
            " reliability: said vs happened ",
            data,
            ("predicted", "observed"),
            top,
            LegendPosition::TopLeft,
        ),
        area,
    );
}

fn draw_empty(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.config.theme;
    let text = if app.job.is_some() {
        "Running the pipeline: golden record, models, actions…".to_string()
    } else {
        format!(
            "No active accounts in this workspace yet.\n\n\
             Bring data in with `cge import DIR` (the five contract CSVs)\n\
             or make a demo with `cge simulate --as-of YYYY-MM-DD`, then press r.\n\n\
             Workspace: {}",
            app.workspace.display()
        )
    };
    f.render_widget(
        Paragraph::new(text)
            .style(t.fg(t.muted))
            .wrap(Wrap { trim: false }),
        area.inner(ratatui::layout::Margin::new(2, 1)),
    );
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.config.theme;
    let left = match app.book.as_ref() {
        None => " 0 accounts ".to_string(),
        Some(b) if b.is_preview() => format!(
            " {}/{} · loading the book… ",
            thousands(app.selected + 1),
            thousands(b.total())
        ),
        Some(b) => {
            let position = if b.is_empty() {
                format!(" 0/{}", thousands(b.total()))
            } else {
                format!(" {}/{}", thousands(app.selected + 1), thousands(b.len()))
            };
            let at_risk = if b.scored() {
                format!(" · at risk {}", format_number(b.view_at_risk(), Fmt::Money))
            } else {
                String::new()
            };
            format!(
                "{position} · ARR {}{at_risk} ",
                format_number(b.view_arr(), Fmt::Money)
            )
        }
    };
    // Right: help and quit, always. Middle: the status message, else as many key hints
    // as fit.
    let essential = format!(" {} ", app.config.keymap.footer_essential());
    let room =
        (area.width as usize).saturating_sub(left.chars().count() + 2 + essential.chars().count());
    let middle = match &app.status {
        Some(s) => fit(s, room),
        None => {
            let mut text = String::new();
            for h in app.config.keymap.footer_hints() {
                let next = if text.is_empty() {
                    h.clone()
                } else {
                    format!("{text} · {h}")
                };
                if next.chars().count() > room {
                    break;
                }
                text = next;
            }
            text
        }
    };
    let pad = room.saturating_sub(middle.chars().count());
    let middle_style = if app.status.is_some() {
        Style::new()
    } else {
        t.fg(t.muted)
    };
    f.render_widget(
        Line::from(vec![
            Span::styled(left, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw("│ "),
            Span::styled(middle, middle_style),
            Span::raw(" ".repeat(pad)),
            Span::styled(essential, t.fg(t.accent)),
        ]),
        area,
    );
}

/// `s` cut to `width` characters, with "…" when cut.
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        s.chars().take(width - 1).collect::<String>() + "…"
    }
}

fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(f: &mut Frame, app: &App, scroll: u16, area: Rect) {
    let t = &app.config.theme;
    let map = &app.config.keymap;
    let mut lines: Vec<Line> = map
        .bindings
        .iter()
        .map(|b| {
            let keys = b
                .keys
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            Line::from(vec![
                Span::styled(
                    format!(" {keys:<16}"),
                    t.fg(t.accent).add_modifier(Modifier::BOLD),
                ),
                Span::raw(b.description),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        " Mouse: click a row to select it, a header to sort; the wheel scrolls.",
        t.fg(t.muted),
    ));
    lines.push(Line::from(""));
    lines.push(Line::styled(" COLUMNS", t.header()));
    let scored = app.book.as_ref().is_some_and(super::book::Book::scored);
    for c in std::iter::once(0)
        .chain(scrollable(&app.config.columns, scored))
        .map(|i| &COLUMNS[i])
    {
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:<9}", c.title),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(super::book::legend(c), t.fg(t.muted)),
            // The key config.toml's `columns` takes.
            Span::styled(format!(" [{}]", c.key), t.fg(t.accent)),
        ]));
    }
    lines.push(Line::styled(
        " Sorted ▼▲; earlier sorts that order the ties ▽△; ‹ › columns cut at the edges.",
        t.fg(t.muted),
    ));
    // As wide as the screen allows; as tall as the text wraps to, scrolling when taller.
    let width = area.width.saturating_sub(2).min(86);
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    let h = (text.line_count(width.saturating_sub(2)) as u16).saturating_add(2);
    let r = popup(area, width, h.min(area.height));
    let block = Block::bordered()
        .title(" keys (Esc closes) ")
        .title_bottom(" j/k PgDn/PgUp g/G scroll ");
    let inner = block.inner(r);
    let scroll = scrolled(&app.overlay_view, &text, inner, scroll);
    f.render_widget(Clear, r);
    f.render_widget(block, r);
    f.render_widget(text.scroll((scroll, 0)), inner);
}

fn draw_filter_menu(f: &mut Frame, app: &App, menu: &super::app::FilterMenu, area: Rect) {
    let t = &app.config.theme;
    let what = match menu.kind {
        None => "filter by".to_string(),
        Some(k) => super::book::kind_name(k).to_string(),
    };
    let hint = if menu.takes_number() {
        "type a number"
    } else {
        "type to narrow"
    };
    let title = if menu.query.is_empty() {
        format!(" {what} · {hint} ")
    } else {
        format!(" {what}: {} ", menu.query.with_cursor())
    };
    let width = popup(area, 52, 3).width;
    let inner = width.saturating_sub(2) as usize;
    let items: Vec<ListItem> = menu
        .shown
        .iter()
        .map(|&i| {
            let o = &menu.options[i];
            let count = o.count.map(thousands).unwrap_or_default();
            let label = fit(&o.label, inner.saturating_sub(count.len() + 3));
            let pad = inner.saturating_sub(label.chars().count() + count.len() + 2);
            ListItem::new(Line::from(vec![
                Span::raw(format!(" {label}{}", " ".repeat(pad))),
                Span::styled(format!("{count} "), t.fg(t.muted)),
            ]))
        })
        .collect();
    let empty = items.is_empty();
    let h = (menu.shown.len().max(1) as u16 + 2)
        .min(area.height.saturating_sub(4))
        .max(3);
    let r = popup(area, 52, h);
    let mut state = ListState::default().with_selected(Some(menu.selected));
    f.render_widget(Clear, r);
    let block = Block::bordered()
        .title(title)
        .title_bottom(if menu.is_owner() {
            " ↑↓ move · Enter choose · Ctrl-s my book · Esc "
        } else {
            " ↑↓ move · Enter choose · Esc cancel "
        });
    if empty {
        f.render_widget(
            Paragraph::new(" nothing matches: Backspace")
                .style(t.fg(t.warn))
                .block(block),
            r,
        );
        return;
    }
    f.render_stateful_widget(
        List::new(items).block(block).highlight_style(t.selected()),
        r,
        &mut state,
    );
}

fn draw_export(f: &mut Frame, app: &App, prompt: &super::app::ExportPrompt, area: Rect) {
    let t = &app.config.theme;
    let rows = app.book.as_ref().map_or(0, |b| b.len());
    let body = if let Some(checked) = &prompt.confirm_overwrite {
        vec![
            Line::from(format!(" {} already exists.", checked.display())),
            Line::styled(
                " Overwrite it? y = overwrite, any other key = choose another name",
                t.fg(t.warn).add_modifier(Modifier::BOLD),
            ),
        ]
    } else {
        let values = if prompt.labels {
            "as on screen (titles, $1.2k, 45%) · Tab: raw values"
        } else {
            "raw values (column keys, full numbers) · Tab: as on screen"
        };
        vec![
            Line::from(format!(
                " Export the {rows} accounts in view (this order) to:"
            )),
            Line::from(vec![
                Span::raw(" "),
                Span::styled(
                    prompt.input.with_cursor(),
                    Style::new().add_modifier(Modifier::UNDERLINED),
                ),
            ]),
            Line::styled(format!(" values: {values}"), t.fg(t.muted)),
        ]
    };
    let r = popup(area, 90, 6);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(body).block(
            Block::bordered()
                .title(" export CSV ")
                .title_bottom(if prompt.confirm_overwrite.is_some() {
                    " y overwrite · other key: another name "
                } else {
                    " Enter write · Esc cancel · ←→ Home End Ctrl-U Ctrl-W edit "
                })
                .borders(Borders::ALL),
        ),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(8083), "8,083");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_text_sparkline_scales_to_the_peak() {
        // Eighths of the peak, rounded up: 2/14 → 1, 7/14 → 4, 14/14 → 7; zero is blank.
        assert_eq!(spark_text(&[0, 2, 7, 14]), " ▂▅█");
        assert_eq!(spark_text(&[0, 0]), "no usage in these weeks");
        assert_eq!(spark_text(&[]), "no usage data");
    }
}
