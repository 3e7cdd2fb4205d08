//! Everything the user can do: keys and mouse map to these; `App::update` applies them.

/// An action of the TUI. The keymap binds keys to the variants without data.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ColumnLeft,
    ColumnRight,
    SortNext,
    SortReverse,
    SortAscending,
    SortDescending,
    Search,
    SearchNext,
    SearchPrevious,
    FilterMenu,
    PopFilter,
    FilterValue,
    EditFilters,
    ToggleDetail,
    SwitchFocus,
    ToggleMeanings,
    Export,
    Refresh,
    Report,
    Help,
    Back,
    // Not bound to keys: produced by the mouse, text prompts and the terminal.
    /// Ctrl-c: quit from any mode, even while typing or in an overlay.
    ForceQuit,
    SortBy(usize),
    SelectRow(usize),
    ScrollUp,
    ScrollDown,
    Input(char),
    InputBackspace,
    /// Cursor keys and the shell's editing keys in a text field.
    Edit(super::text::Edit),
    Confirm,
    /// Ctrl-s in the owner picker: save the owner as `me` in config.toml ("my book").
    SaveMine,
    Resize(u16, u16),
}

impl Action {
    /// Name used in the config file's `[keys]` table.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::ColumnLeft => "column_left",
            Action::ColumnRight => "column_right",
            Action::SortNext => "sort_next",
            Action::SortReverse => "sort_reverse",
            Action::SortAscending => "sort_ascending",
            Action::SortDescending => "sort_descending",
            Action::Search => "search",
            Action::SearchNext => "search_next",
            Action::SearchPrevious => "search_previous",
            Action::FilterMenu => "filter",
            Action::PopFilter => "pop_filter",
            Action::FilterValue => "filter_value",
            Action::EditFilters => "edit_filters",
            Action::ToggleDetail => "detail",
            Action::SwitchFocus => "focus",
            Action::ToggleMeanings => "meanings",
            Action::Export => "export",
            Action::Refresh => "refresh",
            Action::Report => "report",
            Action::Help => "help",
            Action::Back => "back",
            _ => "",
        }
    }
}
