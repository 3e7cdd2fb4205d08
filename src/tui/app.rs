//! The TUI's state and how actions change it. Drawing reads this state and nothing else.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use super::action::Action;
use super::book::{self, Book, COLUMNS, FILTER_KINDS, Filter, FilterKind};
use super::config::Config;
pub use super::loader::{Detail, SPARK_WEEKS};
use super::loader::{Loaded, Request};
use super::picker::Choice;
pub use super::picker::FilterMenu;
use super::text::{Edit, TextField};
use crate::export;
use crate::features::GoldenRecord;
use crate::job::Progress;
use crate::pipeline::refresh::Refreshed;
use crate::pipeline::stored::StoredRun;

/// The smallest terminal the UI draws in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;
/// Width of the detail pane beside the table (when the terminal is wide enough).
pub const DETAIL_WIDTH: u16 = 52;

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Search {
        query: TextField,
        origin: usize,
    },
    Filter(FilterMenu),
    /// The filter bar has the focus: this filter is selected (to remove it).
    FilterBar(usize),
    Export(ExportPrompt),
    /// The keys and the column legend, scrolled this many lines.
    Help(u16),
    /// The model report of the shown run, scrolled this many lines.
    Report(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportPrompt {
    pub input: TextField,
    /// The file exists: waiting for y/n to overwrite exactly this (expanded) path.
    pub confirm_overwrite: Option<PathBuf>,
    /// Write the cells as the screen shows them (titles, $1.2k, 45%) instead of raw values.
    pub labels: bool,
}

/// A scrolled text as drawn: the largest useful scroll and the lines in view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scrolled {
    pub max: u16,
    pub page: u16,
}

impl Default for Scrolled {
    /// Not drawn yet: no end known.
    fn default() -> Self {
        Scrolled {
            max: u16::MAX,
            page: 10,
        }
    }
}

impl Scrolled {
    /// Where `action` moves a scroll of `at`; `None` for an action that does not scroll.
    pub fn scroll(self, at: u16, action: &Action) -> Option<u16> {
        let page = self.page.max(1);
        let to = match action {
            Action::Down | Action::ScrollDown => at.saturating_add(1),
            Action::Up | Action::ScrollUp => at.saturating_sub(1),
            Action::PageDown => at.saturating_add(page),
            Action::PageUp => at.saturating_sub(page),
            Action::Top => 0,
            Action::Bottom => self.max,
            _ => return None,
        };
        Some(to.min(self.max))
    }
}

/// Serves requests at once, on the UI thread (tests; the real app uses the loader thread).
pub type InlineLoader = Box<dyn Fn(Request) -> Loaded>;

pub struct App {
    pub config: Config,
    pub workspace: PathBuf,
    pub book: Option<Book>,
    pub selected: usize,
    pub offset: usize,
    /// The column cursor, for `[`/`]`.
    pub column: usize,
    /// The first scrolled column shown after the frozen account column (an index into
    /// `ui::scrollable`): the table scrolls sideways to keep the cursor in view.
    pub col_offset: usize,
    pub show_detail: bool,
    pub focus_detail: bool,
    pub detail_scroll: u16,
    pub show_meanings: bool,
    pub mode: Mode,
    pub last_search: String,
    /// Matches of `last_search` in the view and in the whole book, counted when the search
    /// or the view changes (not on every frame).
    pub search_hits: (usize, usize),
    pub status: Option<String>,
    pub job: Option<Progress>,
    pub size: (u16, u16),
    pub quit: bool,
    /// Set by `r`; the event loop starts the job and clears it.
    pub refresh_requested: bool,
    pub export_dir: PathBuf,
    /// What `~/` means in a typed export path (the user's home; tests set their own).
    pub home: Option<PathBuf>,
    pub detail: Option<Detail>,
    /// The report of the run the book shows (`m`).
    pub report: Option<crate::pipeline::run::RunReport>,
    /// The workspace holds the shipped sample data (the header says so).
    pub sample: bool,
    /// The user chose the sort: a new book keeps it instead of the default.
    pub user_sorted: bool,
    /// The scrolled detail as last drawn: how far it can scroll, and its height. Drawing
    /// knows how many lines the text wraps to; the keys stop at the end with it.
    pub detail_view: Cell<Scrolled>,
    /// The same for the overlay shown (help, report).
    pub overlay_view: Cell<Scrolled>,
    /// Requests for the loader thread, taken by the event loop after each update.
    requests: Vec<Request>,
    inline: Option<InlineLoader>,
}

impl App {
    pub fn new(config: Config, workspace: &Path, export_dir: PathBuf) -> App {
        App {
            config,
            workspace: workspace.to_path_buf(),
            book: None,
            selected: 0,
            offset: 0,
            column: 0,
            col_offset: 0,
            show_detail: false,
            focus_detail: false,
            detail_scroll: 0,
            show_meanings: false,
            mode: Mode::Normal,
            last_search: String::new(),
            search_hits: (0, 0),
            status: None,
            job: None,
            size: (80, 24),
            quit: false,
            refresh_requested: false,
            export_dir,
            home: directories::UserDirs::new().map(|u| u.home_dir().to_path_buf()),
            detail: None,
            report: None,
            sample: false,
            user_sorted: false,
            requests: Vec::new(),
            inline: None,
            detail_view: Cell::default(),
            overlay_view: Cell::default(),
        }
    }

    /// Serve this app's requests at once with `loader` instead of queueing them.
    pub fn with_inline_loader(mut self, loader: InlineLoader) -> App {
        self.inline = Some(loader);
        self
    }

    /// The requests queued since the last call, for the loader thread.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    fn request(&mut self, req: Request) {
        match self.inline.take() {
            Some(f) => {
                let loaded = f(req);
                self.inline = Some(f);
                self.on_loaded(loaded);
            }
            None => self.requests.push(req),
        }
    }

    /// An answer of the loader: kept only while it is still what the screen needs.
    pub fn on_loaded(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Detail(d) => {
                if self
                    .detail
                    .as_ref()
                    .is_some_and(|x| x.account_id == d.account_id)
                {
                    self.detail = Some(*d);
                }
            }
            Loaded::Book(Ok(Some(run))) => {
                let wanted = self
                    .book
                    .as_ref()
                    .is_some_and(|b| b.is_preview() && b.run_id == Some(run.run_id));
                if wanted && let Err(e) = self.set_run(&run) {
                    self.status = Some(format!("cannot show the whole book: {e}"));
                }
            }
            Loaded::Book(Ok(None)) => {}
            Loaded::Book(Err(e)) => self.status = Some(format!("cannot read the book: {e}")),
            Loaded::Exported { path, result } => {
                self.status = Some(match result {
                    Ok(n) => format!("exported {n} rows to {}", path.display()),
                    Err(e) => format!("export failed: {e}"),
                })
            }
        }
    }

    /// Swap in a (new) golden record without a run (rule scores), keeping sort, filters and
    /// the selected account.
    pub fn set_record(&mut self, gr: &GoldenRecord) -> anyhow::Result<()> {
        self.install(Book::new(gr)?)?;
        self.report = None;
        Ok(())
    }

    /// Swap in a stored run, keeping sort, filters and the selected account.
    /// A preview (the first rows of a big book) shows at once; the rest is asked for.
    pub fn set_run(&mut self, run: &StoredRun) -> anyhow::Result<()> {
        self.install(Book::of_run(run)?)?;
        self.report = run.report.clone();
        if !run.complete() {
            self.request(Request::Book { run_id: run.run_id });
        }
        Ok(())
    }

    fn install(&mut self, mut book: Book) -> anyhow::Result<()> {
        let keep = self.selected_account().map(str::to_string);
        match &self.book {
            Some(old) => book.adopt_view(old)?,
            None => {
                self.open_my_book(&mut book);
                book.apply()?
            }
        }
        if !self.user_sorted {
            // Most at stake first (ARR at risk; rule risk without a run) until the user sorts.
            book.sort = Some(book::default_sort(book.scored()));
            book.then.clear();
            book.apply()?;
        }
        self.book = Some(book);
        self.detail = None;
        self.selected = keep
            .and_then(|id| self.book.as_ref()?.position_of(&id))
            .unwrap_or(0);
        self.clamp();
        self.load_detail();
        Ok(())
    }

    /// The terminal is below the size the UI draws in.
    pub fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    /// The first book opens on the accounts of `me` (the config's owner name), if any.
    fn open_my_book(&mut self, book: &mut Book) {
        let Some(me) = self.config.me.clone() else {
            return;
        };
        if book.distinct("owner").contains(&me) {
            book.filters.push(Filter::Equals {
                column: "owner",
                label: "owner",
                value: me.clone(),
            });
            self.status = Some(format!(
                "your book ({me}, from me = in config.toml) · Backspace shows every account"
            ));
        } else {
            self.status = Some(format!(
                "me = {me:?} in config.toml owns no account here: showing every account"
            ));
        }
    }

    pub fn selected_account(&self) -> Option<&str> {
        self.book.as_ref()?.account_id(self.selected)
    }

    fn rows(&self) -> usize {
        self.book.as_ref().map_or(0, Book::len)
    }

    /// Table rows that fit on screen (body height minus the header row).
    pub fn page(&self) -> usize {
        let body = super::ui::body_height(self.size.1) as usize;
        let table = if self.show_detail && !super::ui::detail_beside(self.size.0) {
            body / 2
        } else {
            body
        };
        table.saturating_sub(1).max(1)
    }

    fn clamp(&mut self) {
        let n = self.rows();
        if n == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(n - 1);
        let page = self.page();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        self.offset = self.offset.min(n.saturating_sub(page));
    }

    fn move_to(&mut self, row: usize) {
        let before = self.selected;
        self.selected = row;
        self.clamp();
        if self.selected != before {
            self.detail_scroll = 0;
            self.load_detail();
        }
    }

    fn load_detail(&mut self) {
        if !self.show_detail {
            return;
        }
        let Some(id) = self.selected_account().map(str::to_string) else {
            self.detail = None;
            return;
        };
        if self.detail.as_ref().is_some_and(|d| d.account_id == id) {
            return;
        }
        let Some(book) = self.book.as_ref() else {
            return;
        };
        let record = book
            .frame_row(self.selected)
            .map(|r| book.frame().slice(r as i64, 1))
            .unwrap_or_default();
        let req = Request::Detail {
            account_id: id.clone(),
            as_of: book.as_of,
            run_id: book.run_id,
            record,
        };
        self.detail = Some(Detail {
            account_id: id,
            loading: true,
            ..Detail::default()
        });
        self.request(req);
    }

    /// Change the view's sort or filters, recompute its order and keep the selected account.
    fn reorder(&mut self, change: impl FnOnce(&mut Book)) {
        let keep = self.selected_account().map(str::to_string);
        if let Some(b) = self.book.as_mut() {
            change(b);
            if let Err(e) = b.apply() {
                self.status = Some(format!("cannot reorder the view: {e}"));
            }
        }
        let row = keep
            .and_then(|id| self.book.as_ref()?.position_of(&id))
            .unwrap_or(0);
        self.offset = 0;
        self.move_to(row);
        self.recount_search();
    }

    fn resort(&mut self, sort: Option<(usize, bool)>) {
        self.user_sorted = true;
        self.reorder(|b| b.sort_by(sort));
        self.follow_column();
    }

    /// Scroll the table sideways so that the column cursor is on screen.
    pub fn follow_column(&mut self) {
        let scored = self.book.as_ref().is_some_and(Book::scored);
        let rest = super::ui::scrollable(&self.config.columns, scored);
        self.col_offset = self.col_offset.min(rest.len().saturating_sub(1));
        let Some(area) = super::ui::table_area(self) else {
            return;
        };
        let Some(at) = rest.iter().position(|&c| c == self.column) else {
            return; // the frozen account column is always on screen
        };
        if at < self.col_offset {
            self.col_offset = at;
        }
        while self.col_offset < at
            && !super::ui::visible_columns(area, &self.config.columns, scored, self.col_offset)
                .cols
                .iter()
                .any(|&(c, _, _)| c == self.column)
        {
            self.col_offset += 1;
        }
    }

    /// The columns the book shows, left to right: the account, then the configured order
    /// (a model run's only when it has one).
    fn shown_columns(&self) -> Vec<usize> {
        let scored = self.book.as_ref().is_some_and(Book::scored);
        std::iter::once(0)
            .chain(super::ui::scrollable(&self.config.columns, scored))
            .collect()
    }

    /// The shown column after (`forward`) or before `c` on screen, wrapping when `wrap`.
    fn next_column(&self, c: usize, forward: bool, wrap: bool) -> usize {
        let shown = self.shown_columns();
        let n = shown.len();
        let Some(at) = shown.iter().position(|&x| x == c) else {
            return shown[0];
        };
        let to = match (forward, wrap) {
            (true, true) => (at + 1) % n,
            (false, true) => (at + n - 1) % n,
            (true, false) => (at + 1).min(n - 1),
            (false, false) => at.saturating_sub(1),
        };
        shown[to]
    }

    fn refilter(&mut self, f: impl FnOnce(&mut Vec<Filter>)) {
        self.reorder(|b| f(&mut b.filters));
    }

    fn find(&self, query: &str, from: usize, forward: bool) -> Option<usize> {
        let book = self.book.as_ref()?;
        let n = book.len();
        if n == 0 || query.is_empty() {
            return None;
        }
        let q = query.to_lowercase();
        (0..n)
            .map(|i| {
                if forward {
                    (from + i) % n
                } else {
                    (from + n - i) % n
                }
            })
            .find(|&r| book.matches(r, &q))
    }

    /// Accounts matching the search `query` (name or id): in the view, and in the whole
    /// book (filters included or not).
    pub fn search_counts(&self, query: &str) -> (usize, usize) {
        let Some(book) = self.book.as_ref() else {
            return (0, 0);
        };
        if query.is_empty() {
            return (0, 0);
        }
        let q = query.to_lowercase();
        let in_view = (0..book.len()).filter(|&r| book.matches(r, &q)).count();
        (in_view, book.count_matching(&q))
    }

    /// Set the search term and count its matches.
    fn set_search(&mut self, query: &str) {
        self.last_search = query.to_string();
        self.recount_search();
    }

    fn recount_search(&mut self) {
        self.search_hits = self.search_counts(&self.last_search);
    }

    /// Why a search found nothing in the view, and whether the filters hide matches.
    pub fn no_match(&self, query: &str) -> String {
        let (_, whole) = self.search_counts(query);
        if whole > 0 {
            format!(
                "no account in this view matches {query:?}; {whole} in the whole book (the filters hide them: Backspace removes the last)"
            )
        } else {
            format!("no account matches {query:?} (name or id)")
        }
    }

    /// Apply one action.
    pub fn update(&mut self, action: Action) {
        if let Action::Resize(w, h) = action {
            self.size = (w, h);
            self.clamp();
            self.follow_column();
            return;
        }
        // A message stays until the next key: the footer's key hints come back after it.
        self.status = None;
        if action == Action::ForceQuit {
            self.quit = true;
            return;
        }
        if self.too_small() {
            // Nothing is drawn but the message: no key may change what cannot be seen.
            if action == Action::Quit {
                self.quit = true;
            }
            return;
        }
        match self.mode.clone() {
            // The overlays scroll, and close with Esc, q, Enter or their own key.
            Mode::Help(scroll) | Mode::Report(scroll) => {
                let help = matches!(self.mode, Mode::Help(_));
                let own = if help { Action::Help } else { Action::Report };
                if matches!(action, Action::Back | Action::Quit | Action::Confirm) || action == own
                {
                    self.mode = Mode::Normal;
                } else if let Some(to) = self.overlay_view.get().scroll(scroll, &action) {
                    self.mode = if help {
                        Mode::Help(to)
                    } else {
                        Mode::Report(to)
                    };
                }
            }
            Mode::Search { query, origin } => self.update_search(action, query, origin),
            Mode::Filter(menu) => self.update_filter(action, menu),
            Mode::FilterBar(at) => self.update_filter_bar(action, at),
            Mode::Export(prompt) => self.update_export(action, prompt),
            Mode::Normal => self.update_normal(action),
        }
    }

    fn update_normal(&mut self, action: Action) {
        let page = self.page();
        let reorders = matches!(
            action,
            Action::SortNext
                | Action::SortReverse
                | Action::SortAscending
                | Action::SortDescending
                | Action::SortBy(_)
                | Action::Search
                | Action::SearchNext
                | Action::SearchPrevious
                | Action::FilterMenu
                | Action::FilterValue
                | Action::EditFilters
                | Action::PopFilter
                | Action::Export
        );
        if let Some(b) = self.book.as_ref().filter(|b| b.is_preview() && reorders) {
            // Sorting, filtering, searching or exporting the first rows alone would mislead.
            self.status = Some(format!(
                "still loading the book ({} accounts): one moment",
                super::ui::thousands(b.total())
            ));
            return;
        }
        if self.focus_detail && self.show_detail {
            // Moves scroll the detail, to its end and no further; the table stays put.
            if let Some(to) = self.detail_view.get().scroll(self.detail_scroll, &action) {
                self.detail_scroll = to;
                return;
            }
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Down | Action::ScrollDown => self.move_to(self.selected.saturating_add(1)),
            Action::Up | Action::ScrollUp => self.move_to(self.selected.saturating_sub(1)),
            Action::PageDown => {
                self.offset = self.offset.saturating_add(page);
                self.move_to(self.selected.saturating_add(page))
            }
            Action::PageUp => {
                self.offset = self.offset.saturating_sub(page);
                self.move_to(self.selected.saturating_sub(page))
            }
            Action::Top => self.move_to(0),
            Action::Bottom => self.move_to(self.rows().saturating_sub(1)),
            Action::SelectRow(r) => {
                self.focus_detail = false;
                self.move_to(r)
            }
            Action::ColumnLeft => {
                self.column = self.next_column(self.column, false, false);
                self.follow_column();
            }
            Action::ColumnRight => {
                self.column = self.next_column(self.column, true, false);
                self.follow_column();
            }
            Action::SortNext => {
                let next = match self.book.as_ref().and_then(|b| b.sort) {
                    Some((c, _)) => self.next_column(c, true, true),
                    None => 0,
                };
                self.column = next;
                self.resort(Some((next, COLUMNS[next].descending_first)));
            }
            Action::SortReverse => {
                let sort = self
                    .book
                    .as_ref()
                    .and_then(|b| b.sort)
                    .map(|(c, d)| (c, !d));
                if sort.is_some() {
                    self.resort(sort);
                }
            }
            Action::SortAscending => self.resort(Some((self.column, false))),
            Action::SortDescending => self.resort(Some((self.column, true))),
            Action::SortBy(c) if c < COLUMNS.len() => {
                let current = self.book.as_ref().and_then(|b| b.sort);
                let desc = match current {
                    Some((cur, d)) if cur == c => !d,
                    _ => COLUMNS[c].descending_first,
                };
                self.column = c;
                self.resort(Some((c, desc)));
            }
            Action::Search => {
                self.mode = Mode::Search {
                    query: TextField::default(),
                    origin: self.selected,
                }
            }
            Action::SearchNext | Action::SearchPrevious => {
                let forward = action == Action::SearchNext;
                let from = if forward {
                    self.selected + 1
                } else {
                    self.selected + self.rows().max(1) - 1
                };
                match self.find(&self.last_search.clone(), from, forward) {
                    Some(r) => self.move_to(r),
                    None if self.last_search.is_empty() => {
                        self.status = Some("no search yet: press / to search".into())
                    }
                    None => self.status = Some(self.no_match(&self.last_search)),
                }
            }
            Action::FilterMenu => {
                if let Some(book) = self.book.as_ref() {
                    self.mode = Mode::Filter(FilterMenu::kinds(book));
                }
            }
            Action::FilterValue => self.filter_on_cursor(),
            Action::EditFilters => {
                let n = self.book.as_ref().map_or(0, |b| b.filters.len());
                if n == 0 {
                    self.status = Some("no filter to edit: f adds one".into());
                } else {
                    self.mode = Mode::FilterBar(n - 1);
                }
            }
            Action::PopFilter => {
                let popped = self.book.as_ref().and_then(|b| b.filters.last().cloned());
                match popped {
                    Some(f) => {
                        self.refilter(|fs| {
                            fs.pop();
                        });
                        self.status = Some(format!("removed filter {}", f.describe()));
                    }
                    None => self.status = Some("no filter to remove".into()),
                }
            }
            Action::ToggleDetail | Action::Confirm => {
                self.show_detail = !self.show_detail;
                self.focus_detail = false;
                self.detail = None;
                self.detail_scroll = 0;
                self.clamp();
                self.load_detail();
            }
            Action::SwitchFocus => {
                if !self.show_detail {
                    self.show_detail = true;
                    self.load_detail();
                }
                self.focus_detail = !self.focus_detail;
                self.status = Some(if self.focus_detail {
                    "detail focused: j/k, PgDn, g/G scroll it · Tab back to the table".into()
                } else {
                    "table focused: j/k move · Tab to the detail".into()
                });
                self.clamp();
            }
            Action::ToggleMeanings => self.show_meanings = !self.show_meanings,
            Action::Export if self.book.is_some() => {
                let as_of = self
                    .book
                    .as_ref()
                    .map(|b| b.as_of.to_string())
                    .unwrap_or_default();
                let path =
                    export::free_path(&self.export_dir.join(format!("cge-accounts-{as_of}.csv")));
                self.mode = Mode::Export(ExportPrompt {
                    input: TextField::new(path.display().to_string()),
                    confirm_overwrite: None,
                    labels: false,
                });
            }
            Action::Refresh => {
                if self.job.is_some() {
                    self.status = Some("the pipeline is already running".into());
                } else {
                    self.refresh_requested = true;
                }
            }
            Action::Help => {
                self.overlay_view.set(Scrolled::default());
                self.mode = Mode::Help(0)
            }
            Action::Report => {
                if self.report.is_some() {
                    self.overlay_view.set(Scrolled::default());
                    self.mode = Mode::Report(0);
                } else {
                    self.status = Some(match self.book.as_ref().is_some_and(Book::scored) {
                        true => "this run's report cannot be read (stored by another cge)".into(),
                        false => "no model run yet: press r to run the pipeline".into(),
                    });
                }
            }
            Action::Back => {
                if self.show_detail {
                    self.show_detail = false;
                    self.focus_detail = false;
                    self.clamp();
                } else {
                    self.set_search("");
                }
            }
            _ => {}
        }
    }

    fn update_search(&mut self, action: Action, mut query: TextField, origin: usize) {
        let changed = match action {
            Action::Input(c) => query.edit(Edit::Insert(c)),
            Action::InputBackspace => query.edit(Edit::Backspace),
            Action::Edit(e) => query.edit(e),
            Action::Confirm => {
                self.set_search(query.as_str());
                self.mode = Mode::Normal;
                return;
            }
            Action::Back | Action::Quit => {
                self.mode = Mode::Normal;
                self.set_search("");
                self.move_to(origin);
                return;
            }
            _ => return,
        };
        if changed {
            match self.find(query.as_str(), origin, true) {
                Some(r) => self.move_to(r),
                None => self.move_to(origin),
            }
        }
        if changed {
            self.set_search(query.as_str());
        }
        self.mode = Mode::Search { query, origin };
    }

    fn update_filter(&mut self, action: Action, mut menu: FilterMenu) {
        let n = menu.shown.len().max(1);
        match action {
            Action::Down | Action::ScrollDown => menu.selected = (menu.selected + 1) % n,
            Action::Up | Action::ScrollUp => menu.selected = (menu.selected + n - 1) % n,
            Action::PageDown => menu.selected = (menu.selected + 10).min(n - 1),
            Action::PageUp => menu.selected = menu.selected.saturating_sub(10),
            Action::Input(c) => {
                menu.query.edit(Edit::Insert(c));
                menu.narrow(self.book.as_ref());
            }
            Action::InputBackspace => {
                menu.query.edit(Edit::Backspace);
                menu.narrow(self.book.as_ref());
            }
            // The edit happens in the guard; only a changed text narrows again.
            Action::Edit(e) if menu.query.edit(e) => menu.narrow(self.book.as_ref()),
            Action::Back | Action::Quit => {
                self.mode = Mode::Normal;
                return;
            }
            Action::SaveMine => match menu.current().map(|o| o.choice.clone()) {
                Some(Choice::Add(Filter::Equals {
                    column: "owner",
                    value,
                    ..
                })) => {
                    if self.save_mine(&value) {
                        self.mode = Mode::Normal;
                        return;
                    }
                }
                _ => {
                    self.status = Some(
                        "Ctrl-s saves an owner as your book: choose \"owner\" first".to_string(),
                    )
                }
            },
            Action::Confirm | Action::ToggleDetail => {
                let Some(choice) = menu.current().map(|o| o.choice.clone()) else {
                    self.status = Some(format!("nothing matches {:?}", menu.query.as_str()));
                    self.mode = Mode::Filter(menu);
                    return;
                };
                match choice {
                    Choice::Kind(k) => {
                        if let Some(book) = self.book.as_ref() {
                            menu = FilterMenu::values(book, k);
                            if menu.is_owner() {
                                menu.mark_mine(self.config.me.as_deref());
                            }
                        }
                    }
                    Choice::Add(filter) => {
                        self.mode = Mode::Normal;
                        self.add_filter(filter);
                        return;
                    }
                }
            }
            _ => {}
        }
        self.mode = Mode::Filter(menu);
    }

    /// Save `owner` as `me` in the config file, so that cge opens on their book from now
    /// on, and filter to it; the owner already saved is removed instead. True when saved.
    fn save_mine(&mut self, owner: &str) -> bool {
        let Some(path) = self.config.path.clone() else {
            self.status =
                Some("no config folder to save in: start cge with --config FILE".to_string());
            return false;
        };
        let removing = self.config.me.as_deref() == Some(owner);
        if let Err(e) = super::config::save_me(&path, (!removing).then_some(owner)) {
            self.status = Some(format!("cannot save me = in {}: {e:#}", path.display()));
            return false;
        }
        if removing {
            self.config.me = None;
            self.status = Some(format!(
                "removed me = {owner:?} from {}: cge opens on every account",
                path.display()
            ));
            return true;
        }
        self.config.me = Some(owner.to_string());
        let filter = Filter::Equals {
            column: "owner",
            label: "owner",
            value: owner.to_string(),
        };
        if !self
            .book
            .as_ref()
            .is_some_and(|b| b.filters.contains(&filter))
        {
            self.refilter(|fs| fs.push(filter));
        }
        self.status = Some(format!(
            "saved me = {owner:?} in {}: cge opens on your book ({} accounts)",
            path.display(),
            super::ui::thousands(self.rows())
        ));
        true
    }

    fn add_filter(&mut self, filter: Filter) {
        let text = filter.describe();
        self.refilter(|fs| fs.push(filter));
        let n = self.rows();
        self.status = Some(format!(
            "filter {text}: {} accounts",
            super::ui::thousands(n)
        ));
    }

    /// `|`: keep the accounts sharing the value under the cursor; for a number column,
    /// those at least as high (at most, where lower means sooner or worse: renewal, trend).
    fn filter_on_cursor(&mut self) {
        let Some(book) = self.book.as_ref() else {
            return;
        };
        let spec = &COLUMNS[self.column];
        let raw = book.raw(self.selected, spec.key);
        if raw.is_empty() {
            self.status = Some(format!("no {} value here to filter on", spec.title));
            return;
        }
        let label = FILTER_KINDS
            .iter()
            .position(|(_, k)| *k == FilterKind::Equals(spec.key))
            .map_or(spec.title, book::kind_name);
        let filter = match (spec.fmt, raw.parse::<f64>()) {
            (book::Fmt::Text, _) | (_, Err(_)) => Filter::Equals {
                column: spec.key,
                label,
                value: raw,
            },
            (fmt, Ok(value)) => Filter::Compare {
                column: spec.key,
                label: spec.title,
                at_least: spec.descending_first,
                value,
                fmt: if fmt == book::Fmt::Churn {
                    book::Fmt::Percent
                } else {
                    fmt
                },
            },
        };
        self.add_filter(filter);
    }

    fn update_filter_bar(&mut self, action: Action, at: usize) {
        let n = self.book.as_ref().map_or(0, |b| b.filters.len());
        match action {
            Action::ColumnLeft | Action::Up => self.mode = Mode::FilterBar(at.saturating_sub(1)),
            Action::ColumnRight | Action::Down => {
                self.mode = Mode::FilterBar((at + 1).min(n.saturating_sub(1)))
            }
            Action::PopFilter | Action::Confirm | Action::ToggleDetail | Action::InputBackspace => {
                let removed = self.book.as_ref().and_then(|b| b.filters.get(at).cloned());
                if let Some(f) = removed {
                    self.refilter(|fs| {
                        fs.remove(at);
                    });
                    self.status = Some(format!("removed filter {}", f.describe()));
                }
                self.mode = match n.saturating_sub(1) {
                    0 => Mode::Normal,
                    left => Mode::FilterBar(at.min(left - 1)),
                };
            }
            Action::Back | Action::EditFilters | Action::Quit => self.mode = Mode::Normal,
            _ => self.mode = Mode::FilterBar(at),
        }
    }

    fn update_export(&mut self, action: Action, mut prompt: ExportPrompt) {
        if let Some(checked) = prompt.confirm_overwrite.clone() {
            match action {
                Action::Input('y') | Action::Input('Y') => {
                    self.mode = Mode::Normal;
                    // The path whose existence was checked, not the text as typed (`~/...`).
                    self.export_to(&checked, true, prompt.labels);
                }
                Action::Input(_) | Action::Back | Action::Quit | Action::Confirm => {
                    prompt.confirm_overwrite = None;
                    self.status = Some("not overwritten: choose another name".into());
                    self.mode = Mode::Export(prompt);
                }
                _ => {}
            }
            return;
        }
        match action {
            Action::Input(c) => {
                prompt.input.edit(Edit::Insert(c));
            }
            Action::InputBackspace => {
                prompt.input.edit(Edit::Backspace);
            }
            Action::Edit(e) => {
                prompt.input.edit(e);
            }
            Action::SwitchFocus => prompt.labels = !prompt.labels,
            Action::Back | Action::Quit => {
                self.mode = Mode::Normal;
                self.status = Some("export cancelled".into());
                return;
            }
            Action::Confirm => {
                let path = expand_home(prompt.input.as_str().trim(), self.home.as_deref());
                let folder = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(Path::to_path_buf);
                if path.as_os_str().is_empty() {
                    self.status = Some("type a file name".into());
                } else if path.is_dir() {
                    self.status = Some(format!(
                        "{} is a folder: add a file name to it",
                        path.display()
                    ));
                } else if let Some(dir) = folder.filter(|d| !d.is_dir()) {
                    // Never create folders behind the user's back: a typo would hide the file.
                    self.status = Some(format!(
                        "no folder {}: create it first, or choose another path",
                        dir.display()
                    ));
                } else if path.exists() {
                    prompt.confirm_overwrite = Some(path);
                } else {
                    self.mode = Mode::Normal;
                    self.export_to(&path, false, prompt.labels);
                    return;
                }
            }
            _ => {}
        }
        self.mode = Mode::Export(prompt);
    }

    /// Write exactly the current view (filtered, sorted), raw values or as shown, on the
    /// loader.
    fn export_to(&mut self, path: &Path, overwrite: bool, labels: bool) {
        let Some(book) = self.book.as_ref() else {
            return;
        };
        // The screen's columns, in the screen's order.
        let mut columns = vec!["account_id"];
        columns.extend(self.shown_columns().into_iter().map(|c| COLUMNS[c].key));
        self.status = Some(format!(
            "exporting {} rows to {}…",
            book.len(),
            path.display()
        ));
        let req = Request::Export {
            path: path.to_path_buf(),
            columns,
            book: Box::new(book.clone()),
            overwrite,
            labels,
        };
        self.request(req);
    }

    /// A progress event of the background job.
    pub fn on_progress(&mut self, p: Progress) {
        self.job = Some(p);
    }

    /// The background job ended.
    pub fn on_job_end(&mut self, result: Result<Option<Refreshed>, String>) {
        self.job = None;
        let shown = match result {
            Ok(Some(Refreshed::Run(run))) => self.set_run(&run).map(|()| {
                format!(
                    "run {} scored {} accounts as of {}",
                    run.run_id, run.total, run.as_of
                )
            }),
            Ok(Some(Refreshed::Record { record, why })) => self.set_record(&record).map(|()| {
                format!(
                    "models not run ({why}); showing rule scores as of {}",
                    record.as_of
                )
            }),
            Ok(None) => Ok("run cancelled; showing the previous results".into()),
            Err(e) => Ok(format!("run failed: {e}")),
        };
        self.status = Some(shown.unwrap_or_else(|e| format!("cannot show the new results: {e}")));
    }

    /// Map a mouse click or wheel at (column, row) of the terminal to an action.
    pub fn mouse_action(&self, kind: MouseKind, x: u16, y: u16) -> Option<Action> {
        match kind {
            MouseKind::WheelDown => return Some(Action::ScrollDown),
            MouseKind::WheelUp => return Some(Action::ScrollUp),
            MouseKind::Click => {}
        }
        if self.mode != Mode::Normal {
            return None;
        }
        let area = super::ui::table_area(self)?;
        if x < area.x || x >= area.x + area.width || y < area.y || y >= area.y + area.height {
            return None;
        }
        if y == area.y {
            return super::ui::column_at(area, x, self).map(Action::SortBy);
        }
        let row = self.offset + (y - area.y - 1) as usize;
        (row < self.rows()).then_some(Action::SelectRow(row))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseKind {
    Click,
    WheelUp,
    WheelDown,
}

fn expand_home(s: &str, home: Option<&Path>) -> PathBuf {
    match (s.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(s),
    }
}

/// Where exports go by default: the documents folder, else home, else the current folder.
pub fn default_export_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|u| {
            u.document_dir()
                .map(Path::to_path_buf)
                .or_else(|| Some(u.home_dir().to_path_buf()))
        })
        .unwrap_or_else(|| PathBuf::from("."))
}
