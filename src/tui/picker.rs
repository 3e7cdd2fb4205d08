//! The filter picker: first what to filter on, then a value — each with the number of
//! accounts it would keep, narrowed as you type; the number kinds (churn risk, ARR) take
//! a typed threshold too ("35" → churn risk ≥ 35 %, "250k" → ARR ≥ $250.0k).

use super::book::{Book, CHURN_BANDS, ENGAGEMENT, ESCALATION, FILTER_KINDS, Filter, FilterKind};
use super::book::{Fmt, PLANS, RENEWAL_WINDOWS};
use super::text::TextField;

/// What choosing an option does.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Go on to the values of `FILTER_KINDS[k]`.
    Kind(usize),
    Add(Filter),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MenuOption {
    pub label: String,
    /// Accounts the view would hold with this filter (values only).
    pub count: Option<usize>,
    pub choice: Choice,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FilterMenu {
    /// `None`: choosing the kind; `Some(k)`: a value of `FILTER_KINDS[k]`.
    pub kind: Option<usize>,
    /// Every option; those matching the typed text are `shown`.
    pub options: Vec<MenuOption>,
    pub query: TextField,
    /// Indices into `options`, in order.
    pub shown: Vec<usize>,
    /// Index into `shown`.
    pub selected: usize,
    /// The kind's own options, before a typed threshold is put first.
    presets: Vec<MenuOption>,
}

impl FilterMenu {
    /// The kinds a book can filter on (those on scores only with a run).
    pub fn kinds(book: &Book) -> FilterMenu {
        let options = (0..FILTER_KINDS.len())
            .filter(|&k| book.scored() || !FILTER_KINDS[k].1.needs_run())
            .map(|k| MenuOption {
                label: FILTER_KINDS[k].0.to_string(),
                count: None,
                choice: Choice::Kind(k),
            })
            .collect();
        FilterMenu::of(None, options)
    }

    /// The values of kind `k`, each with the accounts it would keep.
    pub fn values(book: &Book, k: usize) -> FilterMenu {
        let (label, kind) = (super::book::kind_name(k), FILTER_KINDS[k].1);
        let filters: Vec<Filter> = match kind {
            FilterKind::Equals(column) => {
                let mut values = book.distinct(column);
                let ranks: &[&str] = match column {
                    "engagement_level" => ENGAGEMENT,
                    "escalation_health_status" => ESCALATION,
                    "plan_tier" => PLANS,
                    _ => &[],
                };
                if !ranks.is_empty() {
                    values.sort_by_key(|v| ranks.iter().position(|r| r == v).unwrap_or(usize::MAX));
                }
                values
                    .into_iter()
                    .map(|value| Filter::Equals {
                        column,
                        label,
                        value,
                    })
                    .collect()
            }
            FilterKind::Renewal => RENEWAL_WINDOWS
                .iter()
                .map(|&d| Filter::RenewalWithin(d))
                .collect(),
            FilterKind::ChurnBand => CHURN_BANDS
                .iter()
                .map(|&p| Filter::ChurnAtLeast(p))
                .collect(),
            FilterKind::AtLeast(column) => [0.5, 0.75, 0.9]
                .iter()
                .filter_map(|&q| book.quantile(column, q))
                .map(|value| at_least(column, value))
                .collect(),
        };
        let options = options_of(book, filters, |f| match (kind, f) {
            (FilterKind::AtLeast(_), Filter::Compare { .. }) => {
                format!("{} (typical of the top)", f.describe())
            }
            (FilterKind::Renewal, _) => {
                format!(
                    "annual contract renewing {}",
                    f.describe().replace("contract renewal ", "")
                )
            }
            (FilterKind::Equals(_), Filter::Equals { value, .. }) => value.clone(),
            _ => f.describe(),
        });
        FilterMenu::of(Some(k), options)
    }

    fn of(kind: Option<usize>, options: Vec<MenuOption>) -> FilterMenu {
        let mut m = FilterMenu {
            kind,
            presets: options.clone(),
            options,
            query: TextField::default(),
            shown: Vec::new(),
            selected: 0,
        };
        m.narrow(None);
        m
    }

    /// Show the options matching the typed text; for a number kind, a threshold typed as a
    /// number comes first.
    pub fn narrow(&mut self, book: Option<&Book>) {
        let typed = match (self.kind.map(|k| FILTER_KINDS[k].1), book) {
            (Some(FilterKind::ChurnBand), Some(b)) => {
                parse_number(self.query.as_str()).map(|p| (b, Filter::ChurnAtLeast(p / 100.0)))
            }
            (Some(FilterKind::AtLeast(column)), Some(b)) => {
                parse_number(self.query.as_str()).map(|v| (b, at_least(column, v)))
            }
            _ => None,
        };
        self.options = self.presets.clone();
        if let Some((b, f)) = typed {
            let mut first = options_of(b, vec![f], |f| f.describe());
            first.append(&mut self.options);
            self.options = first;
            // A number typed: every preset stays on offer below it.
            self.shown = (0..self.options.len()).collect();
        } else {
            let q = self.query.as_str().to_lowercase();
            self.shown = (0..self.options.len())
                .filter(|&i| self.options[i].label.to_lowercase().contains(&q))
                .collect();
        }
        self.selected = self.selected.min(self.shown.len().saturating_sub(1));
    }

    /// The owner picker: say which owner is `me` (the saved "my book"), and that Ctrl-s
    /// saves another.
    pub fn mark_mine(&mut self, me: Option<&str>) {
        for o in self.presets.iter_mut() {
            if let Choice::Add(Filter::Equals { value, .. }) = &o.choice
                && me == Some(value.as_str())
            {
                o.label = format!("{value} · my book");
            }
        }
        self.narrow(None);
    }

    /// Choosing an owner (Ctrl-s saves one as `me`).
    pub fn is_owner(&self) -> bool {
        self.kind
            .is_some_and(|k| FILTER_KINDS[k].1 == FilterKind::Equals("owner"))
    }

    /// The option under the cursor.
    pub fn current(&self) -> Option<&MenuOption> {
        self.shown.get(self.selected).map(|&i| &self.options[i])
    }

    /// The kind being chosen a value of (number kinds take a typed threshold).
    pub fn takes_number(&self) -> bool {
        self.kind.is_some_and(|k| {
            matches!(
                FILTER_KINDS[k].1,
                FilterKind::ChurnBand | FilterKind::AtLeast(_)
            )
        })
    }
}

fn at_least(column: &'static str, value: f64) -> Filter {
    Filter::Compare {
        column,
        label: super::book::COLUMNS
            .iter()
            .find(|c| c.key == column)
            .map_or(column, |c| c.title),
        at_least: true,
        value,
        fmt: Fmt::Money,
    }
}

/// Options adding `filters`, labelled by `label`, with the accounts each would keep.
fn options_of(
    book: &Book,
    filters: Vec<Filter>,
    label: impl Fn(&Filter) -> String,
) -> Vec<MenuOption> {
    let counts = book.counts_with(&filters).ok();
    filters
        .into_iter()
        .enumerate()
        .map(|(i, f)| MenuOption {
            label: label(&f),
            count: counts.as_ref().and_then(|c| c.get(i).copied()),
            choice: Choice::Add(f),
        })
        .collect()
}

/// "35", "35 %", "250k", "$1.5M", "120,000" → the number (k, M, B multiply).
pub fn parse_number(s: &str) -> Option<f64> {
    let t: String = s
        .trim()
        .trim_start_matches('$')
        .trim_end_matches('%')
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    let (digits, scale) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1e3),
        'm' | 'M' => (&t[..t.len() - 1], 1e6),
        'b' | 'B' => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = digits.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_people_type_them() {
        assert_eq!(parse_number("35"), Some(35.0));
        assert_eq!(parse_number("35 %"), Some(35.0));
        assert_eq!(parse_number("250k"), Some(250_000.0));
        assert_eq!(parse_number("$1.5M"), Some(1_500_000.0));
        assert_eq!(parse_number("120,000"), Some(120_000.0));
        assert_eq!(parse_number("dana"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("-3"), None);
    }
}
