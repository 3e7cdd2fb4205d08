//! The core's modules import downward only: no cycles, and nothing in the core knows the terminal.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top. A module may use only modules listed before it.
const LAYERS: [&str; 10] = [
    "job",
    "workspace",
    "simulate",
    "features",
    "models",
    "actions",
    "pipeline",
    "export",
    "tui",
    "main",
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a source file names through `crate::` paths (also `crate::{a, b}`).
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut at_top = true;
            for c in group.chars() {
                let ends_item = match c {
                    '{' => {
                        depth += 1;
                        false
                    }
                    '}' if depth > 0 => {
                        depth -= 1;
                        false
                    }
                    '}' => true,
                    ',' => depth == 0,
                    _ => false,
                };
                if at_top && (c.is_alphanumeric() || c == '_') {
                    item.push(c);
                    continue;
                }
                if at_top && !item.is_empty() {
                    out.insert(std::mem::take(&mut item));
                    at_top = false;
                }
                if c == '}' && depth == 0 && ends_item {
                    break;
                }
                if ends_item {
                    at_top = true;
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn core_modules_import_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" {
            continue;
        }
        let Some(level) = LAYERS.iter().position(|l| *l == module) else {
            violations.push(format!(
                "{}: module {module} is not in LAYERS",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for used in uses(&text) {
            if used == module || used == "self" || used == "super" {
                continue;
            }
            match LAYERS.iter().position(|l| *l == used) {
                Some(l) if l < level => checked += 1,
                _ => violations.push(format!("{}: {module} uses crate::{used}", rel.display())),
            }
        }
        // The terminal crates belong to the UI alone.
        if level < LAYERS.iter().position(|l| *l == "tui").unwrap() {
            for t in ["ratatui", "crossterm"] {
                if text.contains(&format!("{t}::")) {
                    violations.push(format!("{}: the core uses {t}", rel.display()));
                }
            }
        }
    }
    assert!(
        checked > 5,
        "the scan found too few imports to be meaningful"
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_scan_sees_grouped_and_plain_paths() {
    let found =
        uses("use crate::{job::{Job, Reporter}, workspace};\nlet x = crate::features::load();");
    let want: BTreeSet<String> = ["job", "workspace", "features"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}
