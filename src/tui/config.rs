//! User configuration: `config.toml` in the cge config folder (or `--config` /
//! `CGE_CONFIG`), a partial override of the built-in defaults in
//! `assets/default-config.toml`. A bad file fails with the key and line at fault.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use super::book::COLUMNS;
use super::keymap::Keymap;

/// Column keys to indices into `COLUMNS`, the account (always first, frozen) left out.
fn column_order(keys: &[String]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for k in keys {
        let Some(i) = COLUMNS.iter().position(|c| c.key == k) else {
            let known: Vec<&str> = COLUMNS.iter().map(|c| c.key).collect();
            anyhow::bail!("unknown column {k:?} (known: {})", known.join(", "));
        };
        if out.contains(&i) {
            anyhow::bail!("column {k:?} listed twice");
        }
        if i != 0 {
            out.push(i);
        }
    }
    Ok(out)
}

pub const DEFAULT_CONFIG: &str = include_str!("../../assets/default-config.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// The CSM's name as an owner of accounts: cge opens filtered to their book.
    me: Option<String>,
    /// The table's columns after the account, left to right, by key (others hidden).
    columns: Option<Vec<String>>,
    #[serde(default)]
    theme: ThemeFile,
    /// action name → one key or a list of keys.
    #[serde(default)]
    keys: BTreeMap<String, OneOrMany>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    accent: Option<String>,
    header: Option<String>,
    muted: Option<String>,
    good: Option<String>,
    warn: Option<String>,
    bad: Option<String>,
}

/// Colors of the UI. With `NO_COLOR` every style is plain and only modifiers remain.
#[derive(Debug, Clone)]
pub struct Theme {
    pub color: bool,
    pub accent: Color,
    pub header: Color,
    pub muted: Color,
    pub good: Color,
    pub warn: Color,
    pub bad: Color,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn selected(&self) -> Style {
        // Visible without color too.
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color { s.fg(self.header) } else { s }
    }

    pub fn plain() -> Theme {
        Theme {
            color: false,
            accent: Color::Reset,
            header: Color::Reset,
            muted: Color::Reset,
            good: Color::Reset,
            warn: Color::Reset,
            bad: Color::Reset,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub theme: Theme,
    pub keymap: Keymap,
    /// `me = "Dana Kim"`: open on the accounts this owner has ("my book").
    pub me: Option<String>,
    /// The table's columns after the frozen account column, left to right, as indices
    /// into `book::COLUMNS` (`columns = [...]`; default: all, in their order).
    pub columns: Vec<usize>,
    /// Where the user file was read from, if any.
    pub source: Option<PathBuf>,
    /// Where the app saves `me` when chosen in the owner picker (`--config`, `CGE_CONFIG`
    /// or the default location, even if no file is there yet).
    pub path: Option<PathBuf>,
}

/// The config file location: `--config`, else `CGE_CONFIG`, else the cge config folder.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "cge").map(|d| d.config_dir().join("config.toml"))
}

impl Config {
    /// Built-in defaults only.
    pub fn builtin(no_color: bool) -> Config {
        Self::from_sources(None, no_color).expect("built-in config is valid")
    }

    /// Load `path` over the defaults (a missing file at the default location is fine).
    pub fn load(path: Option<&Path>, explicit: bool, no_color: bool) -> Result<Config> {
        let user = match path {
            Some(p) if p.exists() => Some((
                p.to_path_buf(),
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
            )),
            Some(p) if explicit => anyhow::bail!("config file {} does not exist", p.display()),
            _ => None,
        };
        let mut config = Self::from_sources(user, no_color)?;
        config.path = path.map(Path::to_path_buf);
        Ok(config)
    }

    fn from_sources(user: Option<(PathBuf, String)>, no_color: bool) -> Result<Config> {
        let defaults: File =
            toml::from_str(DEFAULT_CONFIG).context("assets/default-config.toml")?;
        let (file, source) = match user {
            Some((path, text)) => {
                let f: File = toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim()))?;
                (Some(f), Some(path))
            }
            None => (None, None),
        };
        let name = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("defaults".to_string(), |p| p.display().to_string())
        };
        let pick = |key: &str, user: &Option<String>, def: &Option<String>| -> Result<Color> {
            let v = user
                .as_ref()
                .or(def.as_ref())
                .map(String::as_str)
                .unwrap_or("reset");
            v.parse::<Color>()
                .map_err(|_| anyhow::anyhow!("{}: theme.{key}: unknown color {v:?}", name(&source)))
        };
        let t = file.as_ref().map(|f| &f.theme);
        let none = ThemeFile::default();
        let t = t.unwrap_or(&none);
        let d = &defaults.theme;
        let theme = Theme {
            color: !no_color,
            accent: pick("accent", &t.accent, &d.accent)?,
            header: pick("header", &t.header, &d.header)?,
            muted: pick("muted", &t.muted, &d.muted)?,
            good: pick("good", &t.good, &d.good)?,
            warn: pick("warn", &t.warn, &d.warn)?,
            bad: pick("bad", &t.bad, &d.bad)?,
        };
        let mut overrides: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in std::iter::once(&defaults).chain(file.as_ref()) {
            for (k, v) in &f.keys {
                let keys = match v {
                    OneOrMany::One(s) => vec![s.clone()],
                    OneOrMany::Many(v) => v.clone(),
                };
                overrides.insert(k.clone(), keys);
            }
        }
        let keymap = Keymap::with_overrides(&overrides)
            .map_err(|e| anyhow::anyhow!("{}: {e}", name(&source)))?;
        let me = file
            .as_ref()
            .and_then(|f| f.me.clone())
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        let columns = match file.as_ref().and_then(|f| f.columns.as_ref()) {
            None => (1..COLUMNS.len()).collect(),
            Some(keys) => column_order(keys).map_err(|e| {
                let text = source
                    .as_ref()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .unwrap_or_default();
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with("columns"))
                    .map_or(String::new(), |i| format!(" (line {})", i + 1));
                anyhow::anyhow!("{}: columns{line}: {e}", name(&source))
            })?,
        };
        Ok(Config {
            theme,
            keymap,
            me,
            columns,
            source,
            path: None,
        })
    }
}

/// Save `me = "name"` (or remove it, with `None`) in the config file at `path`, keeping
/// every other line as it was; the file and its folder are created if missing. The new
/// text is checked as a whole config before it replaces the old (through a temp file
/// renamed into place), so a failure leaves the file as it was.
pub fn save_me(path: &Path, me: Option<&str>) -> Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let new = with_me(&old, me);
    Config::from_sources(Some((path.to_path_buf(), new.clone())), true)?;
    crate::export::write_file(path, true, |mut f| Ok(f.write_all(new.as_bytes())?))
}

/// `text` with its top-level `me = ...` line replaced by `me` (removed for `None`), or a new
/// one put first (top-level keys come before any `[table]`).
fn with_me(text: &str, me: Option<&str>) -> String {
    let line = me.map(|m| format!("me = {}", toml::Value::String(m.to_string())));
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out: Vec<String> = Vec::new();
    let (mut in_table, mut found) = (false, false);
    for l in text.lines() {
        let t = l.trim_start();
        in_table |= t.starts_with('[');
        let is_me = t
            .strip_prefix("me")
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if !in_table && !found && is_me {
            found = true;
            out.extend(line.clone());
        } else {
            out.push(l.to_string());
        }
    }
    if !found && let Some(l) = line {
        out.insert(0, l);
    }
    let mut s = out.join(newline);
    if !s.is_empty() {
        s.push_str(newline);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(Some(&p), true, false)
    }

    #[test]
    fn partial_override_applies() {
        let c =
            load_text("[theme]\naccent = \"magenta\"\n[keys]\nexport = [\"x\", \"E\"]\n").unwrap();
        assert_eq!(c.theme.accent, Color::Magenta);
        assert_eq!(
            c.keymap.keys_of(&super::super::action::Action::Export),
            "x/E"
        );
        assert_eq!(
            c.keymap.keys_of(&super::super::action::Action::Quit),
            "q/Ctrl-c"
        );
    }

    #[test]
    fn columns_choose_the_tables_order_and_name_a_bad_key() {
        let c = load_text("columns = [\"owner\", \"total_arr\", \"churn_probability\"]\n").unwrap();
        let keys: Vec<&str> = c.columns.iter().map(|&i| COLUMNS[i].key).collect();
        assert_eq!(keys, ["owner", "total_arr", "churn_probability"]);
        assert_eq!(
            Config::builtin(true).columns,
            (1..COLUMNS.len()).collect::<Vec<_>>()
        );
        let e = load_text("me = \"x\"\ncolumns = [\"owner\", \"arr\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("columns (line 2): unknown column \"arr\"") && e.contains("total_arr"),
            "{e}"
        );
        let e = load_text("columns = [\"owner\", \"owner\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn saving_me_replaces_the_top_level_line_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        // Created with its folder when missing.
        let p = dir.path().join("cge/config.toml");
        save_me(&p, Some("Dana \"DK\" Kim")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            // A TOML literal string: no escapes needed.
            "me = 'Dana \"DK\" Kim'\n"
        );
        let c = Config::load(Some(&p), true, true).unwrap();
        assert_eq!(c.me.as_deref(), Some("Dana \"DK\" Kim"));
        assert_eq!(c.path.as_deref(), Some(p.as_path()));

        let text = "# mine\nme = \"Old\"  # a comment\n[theme]\naccent = \"red\"\n# me = \"x\"\n";
        std::fs::write(&p, text).unwrap();
        save_me(&p, Some("Lee")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "# mine\nme = \"Lee\"\n[theme]\naccent = \"red\"\n# me = \"x\"\n"
        );
        save_me(&p, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "# mine\n[theme]\naccent = \"red\"\n# me = \"x\"\n"
        );
        // No top-level `me`: it goes first, before any table.
        std::fs::write(&p, "[keys]\nexport = \"x\"\n").unwrap();
        save_me(&p, Some("Lee")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "me = \"Lee\"\n[keys]\nexport = \"x\"\n"
        );
        // A file that is not a valid config is left exactly as it was.
        let bad = "[theme]\naccent = \"blurple\"\n";
        std::fs::write(&p, bad).unwrap();
        assert!(save_me(&p, Some("Lee")).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), bad);
    }

    #[test]
    fn me_names_the_csm() {
        let c = load_text("me = \"Dana Kim\"\n[theme]\naccent = \"red\"\n").unwrap();
        assert_eq!(c.me.as_deref(), Some("Dana Kim"));
        assert_eq!(load_text("me = \"  \"\n").unwrap().me, None);
        assert_eq!(Config::builtin(true).me, None);
    }

    #[test]
    fn bad_config_names_the_key() {
        let e = load_text("[theme]\naccent = \"blurple\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("theme.accent: unknown color \"blurple\""), "{e}");
        let e = load_text("[theme]\nacent = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `acent`") && e.contains("line 2"),
            "{e}"
        );
        let e = load_text("[keys]\nexport = \"ctrl-\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("keys.export: unknown key"), "{e}");
        let e = Config::load(Some(Path::new("/nonexistent/cge.toml")), true, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
