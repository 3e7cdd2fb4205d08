//! The book as a CSV table, as the app's table holds it: raw values under the column keys,
//! or the on-screen labels and formats under the column titles. The app's export (`e`) and
//! `cge export --what book` both write it, so a script gets what a CSM sees.

use crate::export::tables::Filters;

use super::book::{Book, COLUMNS, Filter};

/// The header and rows of `book`'s view for the column keys `keys` (`account_id` first
/// is allowed: it has no column of its own on screen); with `search`, only the rows whose
/// account name or id contains it (any case).
pub fn table<'a>(
    book: &'a Book,
    keys: &[&'static str],
    labels: bool,
    search: Option<&str>,
) -> (Vec<&'static str>, Rows<'a>) {
    let columns: Vec<Column> = keys
        .iter()
        .map(|&k| match COLUMNS.iter().position(|c| c.key == k) {
            Some(i) if labels => Column::Shown(i),
            _ if k == "account_id" => Column::Id,
            _ => Column::Raw(k),
        })
        .collect();
    let headers = columns
        .iter()
        .zip(keys)
        .map(|(c, k)| match (c, labels) {
            (Column::Shown(i), _) => COLUMNS[*i].title,
            (Column::Id, true) => "Account ID",
            _ => k,
        })
        .collect();
    (
        headers,
        Rows {
            book,
            columns,
            row: 0,
            query: search.map(|s| s.trim().to_lowercase()),
        },
    )
}

#[derive(Debug, Clone, Copy)]
enum Column {
    Id,
    /// Formatted as the table shows it.
    Shown(usize),
    Raw(&'static str),
}

/// The view's rows, in the view's order.
pub struct Rows<'a> {
    book: &'a Book,
    columns: Vec<Column>,
    row: usize,
    query: Option<String>,
}

impl Iterator for Rows<'_> {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        let r = (self.row..self.book.len()).find(|&r| {
            self.query
                .as_deref()
                .is_none_or(|q| self.book.matches(r, q))
        })?;
        self.row = r + 1;
        Some(
            self.columns
                .iter()
                .map(|c| match *c {
                    Column::Id => self.book.account_id(r).unwrap_or("").to_string(),
                    // "-" on screen is no value: an empty cell (not a defused "'-").
                    Column::Shown(i) => Some(self.book.cell(r, i))
                        .filter(|c| c != "-")
                        .unwrap_or_default(),
                    Column::Raw(k) => self.book.raw(r, k),
                })
                .collect(),
        )
    }
}

/// `cge export`'s row flags as the book's own filters (so the export is a view the app can
/// show): names match in any case; an action text keeps every action containing it (values
/// of one field combine with OR). `--search` is the search of [`table`].
pub fn filters(book: &Book, flags: &Filters) -> Vec<Filter> {
    let mut out = Vec::new();
    // The book's values of `column` that `keep` the flag's text (lowercased, trimmed); no
    // such value keeps the filter on the text itself, so the view is (rightly) empty.
    let mut values_of = |column: &'static str,
                         label: &'static str,
                         flag: &Option<String>,
                         keep: fn(&str, &str) -> bool| {
        let Some(wanted) = flag.as_deref().map(|w| w.trim().to_lowercase()) else {
            return;
        };
        let mut values: Vec<String> = book
            .distinct(column)
            .into_iter()
            .filter(|v| keep(&v.to_lowercase(), &wanted))
            .collect();
        if values.is_empty() {
            values.push(wanted);
        }
        out.extend(values.into_iter().map(|value| Filter::Equals {
            column,
            label,
            value,
        }));
    };
    let same = |v: &str, w: &str| v == w;
    values_of("owner", "owner", &flags.owner, same);
    values_of("industry", "industry", &flags.industry, same);
    values_of("plan_tier", "plan", &flags.plan_tier, same);
    values_of(
        "next_best_action",
        "next best action",
        &flags.action,
        |v, w| v.contains(w),
    );
    if let Some(m) = flags.min_arr {
        out.push(Filter::Compare {
            column: "total_arr",
            label: "ARR",
            at_least: true,
            value: m,
            fmt: super::book::Fmt::Money,
        });
    }
    if let Some(p) = flags.min_churn {
        out.push(Filter::ChurnAtLeast(p));
    }
    if let Some(d) = flags.renewal_within {
        out.push(Filter::RenewalWithin(d));
    }
    out
}
