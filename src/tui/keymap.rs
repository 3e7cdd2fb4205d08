//! The one keymap: (keys, action, description). It drives input handling, the help
//! overlay and the footer hints; the config file can rebind any action.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, bail};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// A key with its modifiers, parsed from strings like `q`, `S`, `ctrl-c`, `pgdn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub fn parse(s: &str) -> Result<Key> {
        let (ctrl, rest) = match s.strip_prefix("ctrl-").or_else(|| s.strip_prefix("ctrl+")) {
            Some(r) => (true, r),
            None => (false, s),
        };
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "esc" | "escape" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => bail!(
                        "unknown key {s:?} (use a single character, or enter, tab, esc, backspace, up, down, left, right, pgup, pgdn, home, end, space, with an optional ctrl- prefix)"
                    ),
                }
            }
        };
        Ok(Key { code, ctrl })
    }

    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl {
            return false;
        }
        match (self.code, ev.code) {
            // Terminals report shifted letters as uppercase chars, sometimes with SHIFT.
            (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            write!(f, "Ctrl-")?;
        }
        match self.code {
            KeyCode::Char(' ') => write!(f, "Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => write!(f, "Enter"),
            KeyCode::Tab => write!(f, "Tab"),
            KeyCode::BackTab => write!(f, "Shift-Tab"),
            KeyCode::Esc => write!(f, "Esc"),
            KeyCode::Backspace => write!(f, "Backspace"),
            KeyCode::Up => write!(f, "↑"),
            KeyCode::Down => write!(f, "↓"),
            KeyCode::Left => write!(f, "←"),
            KeyCode::Right => write!(f, "→"),
            KeyCode::PageUp => write!(f, "PgUp"),
            KeyCode::PageDown => write!(f, "PgDn"),
            KeyCode::Home => write!(f, "Home"),
            KeyCode::End => write!(f, "End"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// One binding of the keymap.
#[derive(Debug, Clone)]
pub struct Binding {
    pub action: Action,
    pub keys: Vec<Key>,
    pub description: &'static str,
    /// Shown in the footer hints.
    pub footer: bool,
}

/// The default keymap (also the order of the help overlay).
const DEFAULTS: &[(Action, &[&str], &str, bool)] = &[
    (Action::Down, &["j", "down"], "next account", false),
    (Action::Up, &["k", "up"], "previous account", false),
    (Action::PageDown, &["pgdn", "ctrl-d"], "page down", false),
    (Action::PageUp, &["pgup", "ctrl-u"], "page up", false),
    (Action::Top, &["g", "home"], "first account", false),
    (Action::Bottom, &["G", "end"], "last account", false),
    (
        Action::ColumnLeft,
        &["h", "left"],
        "select the column to the left",
        false,
    ),
    (
        Action::ColumnRight,
        &["l", "right"],
        "select the column to the right",
        false,
    ),
    (
        Action::SortNext,
        &["s"],
        "sort by the next column (its default direction)",
        true,
    ),
    (Action::SortReverse, &["S"], "reverse the sort", false),
    (
        Action::SortAscending,
        &["["],
        "sort ascending by the selected column",
        false,
    ),
    (
        Action::SortDescending,
        &["]"],
        "sort descending by the selected column",
        false,
    ),
    (
        Action::Search,
        &["/"],
        "search account names as you type",
        true,
    ),
    (Action::SearchNext, &["n"], "next match", false),
    (Action::SearchPrevious, &["N"], "previous match", false),
    (
        Action::FilterMenu,
        &["f"],
        "add a filter (owner, action, churn risk ≥ N %, contract renewal, ARR ≥ N, plan, …): type to narrow, ↑↓ choose; on an owner, Ctrl-s saves it as your book (me = in config.toml)",
        true,
    ),
    (
        Action::FilterValue,
        &["|"],
        "filter to the value under the cursor (numbers: at least it; Renew, Trend: at most)",
        false,
    ),
    (
        Action::PopFilter,
        &["backspace"],
        "remove the last filter",
        false,
    ),
    (
        Action::EditFilters,
        &["F"],
        "choose a filter in the bar (h/l) and remove it (Backspace, Enter)",
        false,
    ),
    (
        Action::ToggleDetail,
        &["enter"],
        "show or hide the account's detail (why this score, action, health)",
        true,
    ),
    (
        Action::SwitchFocus,
        &["tab"],
        "move focus between the table and the detail (j/k then scroll the detail)",
        false,
    ),
    (
        Action::ToggleMeanings,
        &["i"],
        "show what each feature means (in the detail)",
        false,
    ),
    (
        Action::Export,
        &["e"],
        "export the current view to CSV",
        true,
    ),
    (
        Action::Refresh,
        &["r"],
        "run the pipeline (record, models, actions) in the background",
        true,
    ),
    (
        Action::Report,
        &["m"],
        "model report: metrics, curves, actions, forecast (j/k scroll)",
        true,
    ),
    (Action::Help, &["?"], "this help", true),
    (
        Action::Back,
        &["esc"],
        "close the open overlay or detail",
        false,
    ),
    (
        Action::Quit,
        &["q", "ctrl-c"],
        "quit (cancels a running pipeline; stored runs stay)",
        true,
    ),
];

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = DEFAULTS
            .iter()
            .map(|(action, keys, description, footer)| Binding {
                action: action.clone(),
                keys: keys
                    .iter()
                    .map(|k| Key::parse(k).expect("default keys parse"))
                    .collect(),
                description,
                footer: *footer,
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with `overrides` (action name → keys) applied; unknown names and keys are errors.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap> {
        let mut map = Keymap::default();
        for (name, keys) in overrides {
            let Some(b) = map.bindings.iter_mut().find(|b| b.action.name() == name) else {
                let known: Vec<&str> = map.bindings.iter().map(|b| b.action.name()).collect();
                bail!("keys.{name}: unknown action (known: {})", known.join(", "));
            };
            b.keys = keys
                .iter()
                .map(|k| Key::parse(k).map_err(|e| anyhow::anyhow!("keys.{name}: {e}")))
                .collect::<Result<_>>()?;
        }
        Ok(map)
    }

    pub fn action_for(&self, ev: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|b| b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action.clone())
    }

    pub fn keys_of(&self, action: &Action) -> String {
        self.bindings
            .iter()
            .find(|b| &b.action == action)
            .map(|b| {
                b.keys
                    .iter()
                    .map(Key::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    }

    /// Footer hints: "s sort · / search · ...".
    /// The footer's key hints, most useful first, except help and quit (always shown).
    pub fn footer_hints(&self) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|b| b.footer && !b.keys.is_empty())
            .filter(|b| !matches!(b.action, Action::Help | Action::Quit))
            .map(|b| format!("{} {}", b.keys[0], b.action.name().replace('_', " ")))
            .collect()
    }

    /// "? help · q quit", with the keys as bound.
    pub fn footer_essential(&self) -> String {
        [Action::Help, Action::Quit]
            .iter()
            .filter_map(|a| {
                let b = self.bindings.iter().find(|b| b.action == *a)?;
                Some(format!("{} {}", b.keys.first()?, a.name()))
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_keys() {
        let k = Key::parse("ctrl-c").unwrap();
        assert!(k.matches(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!k.matches(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(
            Key::parse("S")
                .unwrap()
                .matches(&KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT))
        );
        assert!(
            Key::parse("pgdn")
                .unwrap()
                .matches(&KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE))
        );
        assert!(Key::parse("shift").is_err());
    }

    #[test]
    fn overrides_rebind_and_reject_unknowns() {
        let mut o = BTreeMap::new();
        o.insert("export".to_string(), vec!["x".to_string()]);
        let m = Keymap::with_overrides(&o).unwrap();
        assert_eq!(
            m.action_for(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Export)
        );
        assert_eq!(
            m.action_for(&KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE)),
            None
        );
        o.insert("explode".to_string(), vec!["z".to_string()]);
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .to_string()
                .starts_with("keys.explode: unknown action")
        );
    }
}
