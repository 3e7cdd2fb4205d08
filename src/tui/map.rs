//! The map of the book in the model report: every account of the view placed by its model
//! inputs (the run's 2-D PCA: close together = alike), coloured by churn risk, with the
//! selected account marked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;
use ratatui::widgets::canvas::{Canvas, Points};

use super::app::App;
use super::book::Book;

/// Churn-risk bands of the map: below 20 %, 20 % to 50 %, 50 % and over (the playbook's
/// default Proactive Support threshold).
pub const BANDS: [f64; 2] = [0.2, 0.5];

/// The points to draw, in the frame's coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct MapLayers {
    /// Accounts by churn-risk band (low, medium, high).
    pub bands: [Vec<(f64, f64)>; 3],
    pub selected: Option<(f64, f64)>,
    pub x: [f64; 2],
    pub y: [f64; 2],
}

impl MapLayers {
    pub fn len(&self) -> usize {
        self.bands.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The view's scored accounts as map layers. The frame spans the 1st to 99th percentile of
/// each axis (a few outliers would squeeze everyone else into a corner); accounts beyond
/// it sit on its edge rather than vanish.
pub fn layers(book: &Book, selected: usize) -> MapLayers {
    let points: Vec<(f64, f64, f64)> = (0..book.len()).filter_map(|r| book.map_point(r)).collect();
    let range = |axis: fn(&(f64, f64, f64)) -> f64| -> [f64; 2] {
        let mut v: Vec<f64> = points.iter().map(axis).filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return [0.0, 1.0];
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        let (lo, hi) = (at(0.01), at(0.99));
        let pad = ((hi - lo) * 0.05).max(1e-9);
        [lo - pad, hi + pad]
    };
    let (x, y) = (range(|p| p.0), range(|p| p.1));
    let place = |px: f64, py: f64| (px.clamp(x[0], x[1]), py.clamp(y[0], y[1]));
    let mut bands: [Vec<(f64, f64)>; 3] = Default::default();
    for &(px, py, churn) in &points {
        let band = BANDS.iter().filter(|&&b| churn >= b).count();
        bands[band].push(place(px, py));
    }
    MapLayers {
        bands,
        selected: book.map_point(selected).map(|(px, py, _)| place(px, py)),
        x,
        y,
    }
}

/// Draw the map of the app's view (the report's text says what its axes hold).
pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(book) = app.book.as_ref() else {
        return;
    };
    let t = &app.config.theme;
    let m = layers(book, app.selected);
    let color = |c: Color| if t.color { c } else { Color::Reset };
    let colors = [color(t.muted), color(t.warn), color(t.bad)];
    let title = format!(
        " map of the view · {} accounts ",
        super::ui::thousands(m.len())
    );
    let legend = Line::from(vec![
        Span::styled(" ⠿ <20 % ", t.fg(t.muted)),
        Span::styled("⠿ 20–50 % ", t.fg(t.warn)),
        Span::styled("⠿ ≥50 % ", t.fg(t.bad)),
        Span::styled("◆ selected ", t.fg(t.accent).add_modifier(Modifier::BOLD)),
    ]);
    let canvas = Canvas::default()
        .block(Block::new().title(title).title_bottom(legend))
        .marker(Marker::Braille)
        .x_bounds(m.x)
        .y_bounds(m.y)
        .paint(|ctx| {
            for (band, c) in m.bands.iter().zip(colors) {
                ctx.draw(&Points {
                    coords: band,
                    color: c,
                });
            }
            ctx.layer();
            if let Some((x, y)) = m.selected {
                ctx.print(
                    x,
                    y,
                    Span::styled("◆", t.fg(t.accent).add_modifier(Modifier::BOLD)),
                );
            }
        });
    f.render_widget(canvas, area);
}
