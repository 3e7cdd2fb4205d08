//! Next Best Action playbook: ordered rules, written in TOML so CS ops can change them without a
//! rebuild, that turn an account's calibrated scores into an action and a play to read aloud.
//! The first rule whose conditions all hold wins; the last rule is a catch-all, so every account
//! gets an action. Mistakes in a user's file are reported as `file:line:column: key: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use toml::Spanned;

/// The shipped playbook; it reproduces the original notebook's rules.
pub const BUILTIN: &str = include_str!("../../assets/playbook.toml");

/// A score a rule can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Metric {
    Churn,
    Escalation,
    CrossSell,
}

impl Metric {
    /// How the metric reads in evidence shown to a CSM.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Churn => "churn risk",
            Metric::Escalation => "escalation risk",
            Metric::CrossSell => "cross-sell score",
        }
    }

    /// The playbook key that sets a threshold on this metric.
    fn key(self) -> &'static str {
        match self {
            Metric::Churn => "churn_above",
            Metric::Escalation => "escalation_above",
            Metric::CrossSell => "crosssell_above",
        }
    }

    fn of(self, s: &Scores) -> Option<f64> {
        match self {
            Metric::Churn => Some(s.churn),
            Metric::Escalation => s.escalation,
            Metric::CrossSell => Some(s.crosssell),
        }
    }
}

/// Holds when the metric is strictly above `above`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Condition {
    pub metric: Metric,
    pub above: f64,
}

impl Condition {
    /// A missing score (no escalation model) never satisfies a condition.
    fn holds(&self, s: &Scores) -> bool {
        self.metric.of(s).is_some_and(|v| v > self.above)
    }
}

/// What ranks the action: expected ARR at risk, or expected expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Value {
    Risk,
    Expansion,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rule {
    pub action: String,
    pub urgent: bool,
    /// All must hold; empty for the catch-all.
    pub when: Vec<Condition>,
    pub value: Value,
    /// What to do, in a sentence or two a CSM can read aloud.
    pub play: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Playbook {
    pub rules: Vec<Rule>,
    pub urgent_per_csm_per_week: usize,
    pub expansion_share: f64,
    /// Where it came from: "built-in" or the file's path.
    pub source: String,
}

/// One account's scores as the rules see them. `escalation` is None when the run had no
/// escalation model: a condition on it then never holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub churn: f64,
    pub escalation: Option<f64>,
    pub crosssell: f64,
}

/// A bad playbook: where and what. Display: "{source}:{line}:{column}: {key}: {message}" (line
/// and column 1-based as an editor shows them; key a dotted path such as `rule[3].churn_above`
/// (rules numbered from 1) or `urgent_per_csm_per_week`).
// Display and Error are written by hand: thiserror would take the `source` field for the
// error's cause, which a String cannot be.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybookError {
    pub source: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PlaybookError {
            source,
            line,
            column,
            key,
            message,
        } = self;
        write!(f, "{source}:{line}:{column}: {key}: {message}")
    }
}

impl std::error::Error for PlaybookError {}

/// The file as written; spans are kept on values checked after deserializing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    urgent_per_csm_per_week: Option<Spanned<i64>>,
    expansion_share: Option<Spanned<f64>>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    action: Spanned<String>,
    #[serde(default)]
    urgent: bool,
    churn_above: Option<Spanned<f64>>,
    escalation_above: Option<Spanned<f64>>,
    crosssell_above: Option<Spanned<f64>>,
    value: Option<Spanned<String>>,
    play: Spanned<String>,
}

impl Playbook {
    pub fn builtin() -> Playbook {
        Playbook::parse(BUILTIN, "built-in").expect("the built-in playbook is valid")
    }

    pub fn parse(text: &str, source: &str) -> Result<Playbook, PlaybookError> {
        let err = |at: usize, key: String, message: String| {
            let (line, column) = line_column(text, at);
            let source = source.to_string();
            PlaybookError {
                source,
                line,
                column,
                key,
                message,
            }
        };
        let raw: RawPlaybook = toml::from_str(text).map_err(|e| {
            let at = text.floor_char_boundary(e.span().map_or(0, |s| s.start));
            let missing = e
                .message()
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'));
            // serde names Rust types; a CS ops person thinks in numbers.
            let message = e.message().replace("expected f64", "expected a number");
            err(
                at,
                key_at(text, at, missing),
                message.replace("expected i64", "expected a whole number"),
            )
        })?;

        let urgent_per_csm_per_week = match raw.urgent_per_csm_per_week {
            None => 5,
            Some(n) => usize::try_from(*n.get_ref())
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    let message = format!("must be at least 1, got {}", n.get_ref());
                    err(n.span().start, "urgent_per_csm_per_week".into(), message)
                })?,
        };
        let expansion_share = match raw.expansion_share {
            None => 0.2,
            // NaN and infinities fail these comparisons too.
            Some(x) => match *x.get_ref() {
                v if v > 0.0 && v <= 10.0 => v,
                v => {
                    let message = format!("must be above 0 and at most 10, got {v}");
                    return Err(err(x.span().start, "expansion_share".into(), message));
                }
            },
        };
        let Some(last) = raw.rule.len().checked_sub(1) else {
            let message = "no rules: add [[rule]] tables, the last one with no conditions";
            return Err(err(0, "rule".into(), message.into()));
        };

        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rule.len());
        for (i, r) in raw.rule.iter().enumerate() {
            let key = |k: &str| format!("rule[{}].{k}", i + 1);
            let at_action = |message: String| err(r.action.span().start, key("action"), message);
            let action = r.action.get_ref().trim();
            if action.is_empty() {
                return Err(at_action("must not be empty".into()));
            }
            let lower = action.to_lowercase();
            if let Some(j) = rules.iter().position(|p| p.action.to_lowercase() == lower) {
                let message = format!(
                    "\"{action}\" is already rule[{}]'s action; actions must be unique",
                    j + 1
                );
                return Err(at_action(message));
            }
            let mut when = Vec::new();
            for (metric, c) in [
                (Metric::Churn, &r.churn_above),
                (Metric::Escalation, &r.escalation_above),
                (Metric::CrossSell, &r.crosssell_above),
            ] {
                let Some(c) = c else { continue };
                let above = *c.get_ref();
                if !(0.0..=1.0).contains(&above) {
                    let message = format!("must be between 0 and 1, got {above}");
                    return Err(err(c.span().start, key(metric.key()), message));
                }
                when.push(Condition { metric, above });
            }
            let value = match &r.value {
                None => Value::Risk,
                Some(v) => match v.get_ref().as_str() {
                    "risk" => Value::Risk,
                    "expansion" => Value::Expansion,
                    other => {
                        let message = format!("must be \"risk\" or \"expansion\", got \"{other}\"");
                        return Err(err(v.span().start, key("value"), message));
                    }
                },
            };
            let play = r.play.get_ref().trim();
            if play.is_empty() {
                let message = "must not be empty: say what the CSM should do".into();
                return Err(err(r.play.span().start, key("play"), message));
            }
            if i == last && !when.is_empty() {
                let message = "the last rule must have no conditions: it is the catch-all that gives every account an action";
                return Err(at_action(message.into()));
            }
            if i < last && when.is_empty() {
                let message = "has no conditions, so the rules after it can never apply: give it a condition or move it last";
                return Err(at_action(message.into()));
            }
            let (action, urgent, play) = (action.to_string(), r.urgent, play.to_string());
            rules.push(Rule {
                action,
                urgent,
                when,
                value,
                play,
            });
        }
        Ok(Playbook {
            rules,
            urgent_per_csm_per_week,
            expansion_share,
            source: source.to_string(),
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<Playbook> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read playbook {}", path.display()))?;
        Ok(Playbook::parse(&text, &path.display().to_string())?)
    }

    /// `--playbook FILE` if given (must exist), else `playbook.toml` in the cge config folder if
    /// it exists, else the built-in one.
    pub fn resolve(explicit: Option<&Path>) -> anyhow::Result<Playbook> {
        Playbook::resolve_in(explicit, Playbook::default_path().as_deref())
    }

    /// `resolve` with the config file passed in, so tests need not touch the real config folder.
    pub(crate) fn resolve_in(
        explicit: Option<&Path>,
        config_file: Option<&Path>,
    ) -> anyhow::Result<Playbook> {
        match (explicit, config_file) {
            (Some(path), _) => Playbook::load(path),
            (None, Some(path)) if path.exists() => Playbook::load(path),
            _ => Ok(Playbook::builtin()),
        }
    }

    /// The cge config folder's playbook path, next to `config.toml`.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "cge").map(|d| d.config_dir().join("playbook.toml"))
    }

    /// Index of the first rule whose conditions all hold. A parsed playbook always ends with a
    /// catch-all; for a hand-built one without, the last rule is the fallback.
    pub fn choose(&self, s: &Scores) -> usize {
        let first = self
            .rules
            .iter()
            .position(|r| r.when.iter().all(|c| c.holds(s)));
        first.unwrap_or(self.rules.len().saturating_sub(1))
    }
}

/// 1-based line and column (in characters) of byte `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// The dotted key at byte `at`, for errors toml reports only by position: the enclosing
/// `[table]` or `[[array]]` header (entries numbered from 1) joined with the key written on that
/// line. `missing` is a field serde found missing; toml points at its table's header.
fn key_at(text: &str, at: usize, missing: Option<&str>) -> String {
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}.{b}")
        }
    };
    let mut counts = std::collections::HashMap::new();
    let mut table = String::new();
    // (the table a missing field belongs to, the key written) for the latest line
    let mut here = None;
    for line in text[..line_end].split('\n') {
        let line = line.split('#').next().unwrap_or("").trim();
        here = if let Some(name) = line.strip_prefix("[[") {
            let name = name.trim_end_matches(']').trim();
            let n = counts.entry(name.to_string()).or_insert(0);
            *n += 1;
            table = format!("{name}[{n}]");
            Some((table.clone(), name.to_string()))
        } else if let Some(name) = line.strip_prefix('[') {
            table = name.trim_end_matches(']').trim().to_string();
            Some((table.clone(), table.clone()))
        } else {
            let key = line
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"'));
            key.filter(|k| !k.is_empty())
                .map(|k| (join(&table, k), join(&table, k)))
        };
    }
    let (parent, key) = here.unwrap_or_else(|| (table.clone(), table.clone()));
    match missing {
        Some(field) => join(&parent, field),
        None if key.is_empty() => "(top level)".into(),
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(churn: f64, escalation: Option<f64>, crosssell: f64) -> Scores {
        Scores {
            churn,
            escalation,
            crosssell,
        }
    }

    fn action(p: &Playbook, s: Scores) -> &str {
        &p.rules[p.choose(&s)].action
    }

    fn error(text: &str) -> String {
        Playbook::parse(text, "pb.toml").unwrap_err().to_string()
    }

    #[test]
    fn builtin_has_the_notebook_rules_in_order() {
        let p = Playbook::builtin();
        assert_eq!(p.source, "built-in");
        assert_eq!((p.urgent_per_csm_per_week, p.expansion_share), (5, 0.2));
        let c = |metric, above| Condition { metric, above };
        let expected = [
            (
                "URGENT: Rescue Call",
                true,
                vec![c(Metric::Churn, 0.7)],
                Value::Risk,
            ),
            (
                "Proactive Support",
                true,
                vec![c(Metric::Churn, 0.5), c(Metric::Escalation, 0.6)],
                Value::Risk,
            ),
            (
                "Upsell Meeting",
                false,
                vec![c(Metric::CrossSell, 0.75)],
                Value::Expansion,
            ),
            (
                "Check-in Call",
                false,
                vec![c(Metric::Churn, 0.4)],
                Value::Risk,
            ),
            ("Monitor", false, vec![], Value::Risk),
        ];
        assert_eq!(p.rules.len(), expected.len());
        for (rule, (action, urgent, when, value)) in p.rules.iter().zip(expected) {
            assert_eq!(
                (rule.action.as_str(), rule.urgent, &rule.when, rule.value),
                (action, urgent, &when, value)
            );
            assert!(rule.play.len() > 40, "{action} needs a real play");
        }
    }

    #[test]
    fn builtin_reproduces_the_original_rules() {
        let p = Playbook::builtin();
        let cases = [
            (scores(0.71, None, 0.0), "URGENT: Rescue Call"),
            (scores(0.9, Some(0.9), 0.9), "URGENT: Rescue Call"),
            // exactly 0.7 is not above 0.7; with no escalation it falls to the check-in
            (scores(0.7, Some(0.0), 0.0), "Check-in Call"),
            (scores(0.7, Some(0.61), 0.0), "Proactive Support"),
            (scores(0.6, Some(0.61), 0.0), "Proactive Support"),
            (scores(0.6, Some(0.6), 0.0), "Check-in Call"),
            (scores(0.6, None, 0.0), "Check-in Call"),
            (scores(0.5, Some(0.9), 0.0), "Check-in Call"),
            // upsell is evaluated before the check-in
            (scores(0.45, None, 0.8), "Upsell Meeting"),
            (scores(0.1, None, 0.75), "Monitor"),
            (scores(0.4, None, 0.0), "Monitor"),
            (scores(0.1, None, 0.0), "Monitor"),
        ];
        for (s, expected) in cases {
            assert_eq!(action(&p, s), expected, "{s:?}");
        }
    }

    const CUSTOM: &str = r#"
urgent_per_csm_per_week = 3
expansion_share = 0.5

[[rule]]
action = "Expansion Call"
crosssell_above = 0.6
value = "expansion"
play = "Pitch the add-on."

[[rule]]
action = "Save Call"
urgent = true
churn_above = 0.8
play = "Call the sponsor today."

[[rule]]
action = "Check-in"
churn_above = 0.3
play = "Send a short check-in."

[[rule]]
action = "Wait"
play = "Nothing to do."
"#;

    #[test]
    fn custom_playbook_changes_the_actions() {
        let p = Playbook::parse(CUSTOM, "mine.toml").unwrap();
        let builtin = Playbook::builtin();
        assert_eq!(
            (
                p.urgent_per_csm_per_week,
                p.expansion_share,
                p.source.as_str()
            ),
            (3, 0.5, "mine.toml")
        );
        assert_eq!(
            (
                p.rules[1].urgent,
                p.rules[1].value,
                p.rules[1].play.as_str()
            ),
            (true, Value::Risk, "Call the sponsor today.")
        );
        assert_eq!((p.rules[2].urgent, p.rules[2].value), (false, Value::Risk));
        let cases = [
            (scores(0.75, None, 0.0), "URGENT: Rescue Call", "Check-in"),
            (
                scores(0.9, None, 0.7),
                "URGENT: Rescue Call",
                "Expansion Call",
            ),
            (scores(0.85, None, 0.0), "URGENT: Rescue Call", "Save Call"),
            (scores(0.35, None, 0.0), "Monitor", "Check-in"),
            (scores(0.1, None, 0.65), "Monitor", "Expansion Call"),
            (scores(0.2, None, 0.1), "Monitor", "Wait"),
        ];
        for (s, before, after) in cases {
            assert_eq!(
                (action(&builtin, s), action(&p, s)),
                (before, after),
                "{s:?}"
            );
        }
    }

    #[test]
    fn top_level_keys_default() {
        let p =
            Playbook::parse("[[rule]]\naction = \"Monitor\"\nplay = \"Watch.\"\n", "x").unwrap();
        assert_eq!((p.urgent_per_csm_per_week, p.expansion_share), (5, 0.2));
        assert_eq!(p.choose(&scores(0.99, Some(0.99), 0.99)), 0);
    }

    #[test]
    fn unknown_key_names_the_typo_line() {
        let text = "[[rule]]\naction = \"Call\"\nchurn_abov = 0.5\nplay = \"Call them.\"\n";
        assert_eq!(
            error(text),
            "pb.toml:3:1: rule[1].churn_abov: unknown field `churn_abov`, expected one of `action`, \
             `urgent`, `churn_above`, `escalation_above`, `crosssell_above`, `value`, `play`"
        );
    }

    #[test]
    fn threshold_out_of_range() {
        let text = "[[rule]]\naction = \"Rescue\"\nchurn_above = 1.5\nplay = \"Call.\"\n\n\
                    [[rule]]\naction = \"Monitor\"\nplay = \"Watch.\"\n";
        assert_eq!(
            error(text),
            "pb.toml:3:15: rule[1].churn_above: must be between 0 and 1, got 1.5"
        );
    }

    #[test]
    fn string_threshold() {
        let text = "[[rule]]\naction = \"Rescue\"\nchurn_above = \"high\"\nplay = \"Call.\"\n\n\
                    [[rule]]\naction = \"Monitor\"\nplay = \"Watch.\"\n";
        assert_eq!(
            error(text),
            "pb.toml:3:15: rule[1].churn_above: invalid type: string \"high\", expected a number"
        );
    }

    #[test]
    fn missing_play() {
        let text = "[[rule]]\naction = \"Rescue\"\nchurn_above = 0.7\nplay = \"Call.\"\n\n\
                    [[rule]]\naction = \"Monitor\"\n";
        assert_eq!(
            error(text),
            "pb.toml:6:1: rule[2].play: missing field `play`"
        );
    }

    #[test]
    fn last_rule_must_be_a_catch_all() {
        let text = "[[rule]]\naction = \"Rescue\"\nchurn_above = 0.7\nplay = \"Call.\"\n\n\
                    [[rule]]\naction = \"Check-in\"\nchurn_above = 0.4\nplay = \"Check in.\"\n";
        assert_eq!(
            error(text),
            "pb.toml:7:10: rule[2].action: the last rule must have no conditions: it is the \
             catch-all that gives every account an action"
        );
    }

    #[test]
    fn duplicate_action_ignores_case() {
        let text = "[[rule]]\naction = \"Monitor\"\nchurn_above = 0.7\nplay = \"Watch closely.\"\n\n\
                    [[rule]]\naction = \"monitor\"\nplay = \"Watch.\"\n";
        assert_eq!(
            error(text),
            "pb.toml:7:10: rule[2].action: \"monitor\" is already rule[1]'s action; actions must be unique"
        );
    }

    #[test]
    fn syntax_error() {
        let text =
            "urgent_per_csm_per_week = 5x\n\n[[rule]]\naction = \"Monitor\"\nplay = \"Watch.\"\n";
        assert_eq!(
            error(text),
            "pb.toml:1:27: urgent_per_csm_per_week: string values must be quoted, expected literal string"
        );
    }

    #[test]
    fn other_mistakes_name_their_key() {
        let monitor = "[[rule]]\naction = \"Monitor\"\nplay = \"Watch.\"\n";
        let key = |text: &str| Playbook::parse(text, "x").unwrap_err().key;
        assert_eq!(
            key(&format!("urgent_per_csm_per_week = 0\n{monitor}")),
            "urgent_per_csm_per_week"
        );
        assert_eq!(
            key(&format!("expansion_share = 0\n{monitor}")),
            "expansion_share"
        );
        assert_eq!(
            key(&format!("expansion_share = nan\n{monitor}")),
            "expansion_share"
        );
        assert_eq!(key("expansion_share = 0.2\n"), "rule");
        assert_eq!(
            key(&monitor.replace("play", "value = \"revenue\"\nplay")),
            "rule[1].value"
        );
        assert_eq!(key(&monitor.replace("Watch.", " ")), "rule[1].play");
        assert_eq!(key(&monitor.replace("Monitor", "")), "rule[1].action");
        assert_eq!(key(&format!("{monitor}{monitor}")), "rule[1].action");
        let inf =
            format!("[[rule]]\naction = \"B\"\nescalation_above = inf\nplay = \"p\"\n{monitor}");
        assert_eq!(key(&inf), "rule[1].escalation_above");
        assert_eq!(key("[[rules]]\naction = \"A\"\n"), "rules");
        // a typo'd table value: the line's key, in its table
        assert_eq!(
            key(&monitor.replace("play", "urgent = \"yes\"\nplay")),
            "rule[1].urgent"
        );
    }

    #[test]
    fn columns_count_characters() {
        let text = "[[rule]]\naction = \"Café\"\nplay = \"Rés\"\nchurn_above = 2\n";
        let e = Playbook::parse(text, "x").unwrap_err();
        assert_eq!((e.line, e.column), (4, 15));
        assert_eq!(line_column("é = \"x", 6), (1, 6));
    }

    #[test]
    fn resolve_prefers_explicit_then_config_then_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("explicit.toml");
        let config = dir.path().join("playbook.toml");
        std::fs::write(&explicit, CUSTOM).unwrap();
        std::fs::write(&config, CUSTOM.replace("Wait", "Config Wait")).unwrap();
        let resolve = |e: Option<&Path>, c: Option<&Path>| Playbook::resolve_in(e, c).unwrap();

        let p = resolve(Some(explicit.as_path()), Some(config.as_path()));
        assert_eq!(
            (p.source, p.rules[3].action.as_str()),
            (explicit.display().to_string(), "Wait")
        );
        let p = resolve(None, Some(config.as_path()));
        assert_eq!(
            (p.source, p.rules[3].action.as_str()),
            (config.display().to_string(), "Config Wait")
        );
        assert_eq!(
            resolve(None, Some(dir.path().join("absent.toml").as_path())),
            Playbook::builtin()
        );
        assert_eq!(resolve(None, None), Playbook::builtin());

        let missing = dir.path().join("missing.toml");
        let e = Playbook::resolve_in(Some(missing.as_path()), Some(config.as_path())).unwrap_err();
        assert!(
            format!("{e:#}").contains(&missing.display().to_string()),
            "{e:#}"
        );
    }

    #[test]
    fn load_errors_downcast_to_playbook_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "expansion_share = 11\n").unwrap();
        let e = Playbook::load(&path).unwrap_err();
        let e = e.downcast_ref::<PlaybookError>().expect("a PlaybookError");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1:19: expansion_share: must be above 0 and at most 10, got 11",
                path.display()
            )
        );
    }
}
