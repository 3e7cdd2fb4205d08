//! End to end as a person: the real binary in tmux, keys in, screen text out.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str, width: u16, height: u16) -> Tmux {
        // Unique per test: the tests of this binary run in parallel.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("cge-e2e-{}-{n}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                cmd,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux { session }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            assert!(
                Command::new("tmux")
                    .args(["send-keys", "-t", &self.session, k])
                    .status()
                    .unwrap()
                    .success()
            );
            std::thread::sleep(Duration::from_millis(120));
        }
    }

    fn text(&self, text: &str) {
        assert!(
            Command::new("tmux")
                .args(["send-keys", "-t", &self.session, "-l", text])
                .status()
                .unwrap()
                .success()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Press `keys` (the last one quits) and wait up to 10 s for cge to end.
    fn quit_with(&self, keys: &[&str]) {
        self.keys(keys);
        let start = Instant::now();
        while self.alive() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!self.alive(), "cge did not quit");
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .output()
            .unwrap()
            .status
            .success()
    }

    /// Wait until the screen satisfies `pred` (up to 30 s), returning it.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // .ci/run installs tmux and sets CGE_REQUIRE_TMUX, so CI cannot skip this test.
        assert!(
            std::env::var_os("CGE_REQUIRE_TMUX").is_none(),
            "tmux is required but not installed"
        );
        eprintln!(
            "SKIPPED: tmux is not installed (apt-get install tmux); the end-to-end TUI test did not run"
        );
    }
    found
}

/// Width of the Account column: the first characters of a table row.
const NAME_WIDTH: usize = 22;

/// Table rows on screen: the lines between the column header and the footer, cut to the
/// table (the detail pane may sit to the right).
fn table_rows(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("Account "))
        .expect("table header on screen");
    lines[header + 1..]
        .iter()
        .take_while(|l| !l.contains(" · ARR "))
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.to_string())
        .collect()
}

/// A row's cell in characters `from..from + width`, trimmed.
fn cell(row: &str, from: usize, width: usize) -> String {
    row.chars()
        .skip(from)
        .take(width)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Where a column starts on screen (in characters), from its title in the header row.
fn column_x(screen: &str, title: &str) -> usize {
    let header = screen
        .lines()
        .find(|l| l.starts_with("Account"))
        .expect("a header row");
    let chars: Vec<char> = header.chars().collect();
    let t: Vec<char> = title.chars().collect();
    chars
        .windows(t.len())
        .position(|w| w == t.as_slice())
        .unwrap_or_else(|| panic!("no {title} in {header}"))
}

/// The footer's row count: "1/N · ARR ..." → N.
fn footer_count(screen: &str) -> usize {
    let line = screen.lines().find(|l| l.contains(" · ARR ")).unwrap();
    let first = line.split_whitespace().next().unwrap();
    first.split('/').nth(1).unwrap().parse().unwrap()
}

#[test]
fn csm_runs_the_pipeline_sorts_filters_explains_exports_and_quits() {
    if !tmux_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(
        &ws,
        &[
            "simulate",
            "--accounts",
            "300",
            "--seed",
            "9",
            "--as-of",
            "2026-10-31",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let exports = tmp.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let cmd = format!(
        "env NO_COLOR=1 XDG_CONFIG_HOME={cfg} CGE_EXPORT_DIR={exp} {bin} --workspace {ws}",
        cfg = tmp.path().join("config").display(),
        exp = exports.display(),
        bin = env!("CARGO_BIN_EXE_cge"),
        ws = ws.display()
    );
    let t = Tmux::start(&cmd, 150, 40);

    // Nothing is stored yet: the whole pipeline runs in the background, then its run shows,
    // most ARR at risk first.
    let s = t.wait_for("the first run", |s| {
        s.contains("run 1 scored") && s.contains(" · ARR ")
    });
    assert!(
        s.contains("active accounts · as of 2026-10-31 · run 1"),
        "{s}"
    );
    assert!(s.contains("AtRisk▼"), "starts sorted by ARR at risk: {s}");

    // Sort by churn risk: the column cursor onto Churn, then ] (descending).
    t.keys(&["l", "]"]);
    let s = t.wait_for("churn sort", |s| s.contains("Churn▼"));
    let churn: Vec<f64> = table_rows(&s)
        .iter()
        .map(|r| {
            cell(r, column_x(&s, "Churn"), 6)
                .trim_end_matches(['%', '▲', '▼'])
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        churn.len() > 10 && churn.windows(2).all(|w| w[0] >= w[1]),
        "churn not descending: {churn:?}\n{s}"
    );

    // Filter to one action: f, down to "next best action", the first one listed.
    t.keys(&["f", "Down", "Enter"]);
    let menu = t.wait_for("action list", |s| {
        s.contains("next best action") && s.contains("Enter choose")
    });
    // "│ Monitor                     120 │": the value, then how many accounts it keeps.
    let (action, keeps) = menu
        .lines()
        .find_map(|l| {
            let o = l.split('│').nth(1)?.trim();
            let (name, n) = o.rsplit_once(' ')?;
            let n: usize = n.replace(',', "").parse().ok()?;
            Some((name.trim().to_string(), n))
        })
        .expect("an action in the menu");
    t.keys(&["Enter"]);
    let s = t.wait_for("action filter", |s| {
        s.contains(&format!("filters: next best action: {action}"))
    });
    let count = footer_count(&s);
    assert!(count > 0 && count < 300, "{s}");
    assert_eq!(
        count, keeps,
        "the picker said how many accounts the filter keeps"
    );
    let rows = table_rows(&s);
    assert_eq!(rows.len(), count.min(rows.len()));
    let action_from = column_x(&s, "Action");
    for r in &rows {
        assert!(
            action.starts_with(&cell(r, action_from, 19)),
            "a row outside the filter: {r}"
        );
    }

    // Open the detail: why this score, with the drivers in words.
    t.keys(&["Enter"]);
    let s = t.wait_for("the detail", |s| s.contains("WHY THIS SCORE"));
    assert!(s.contains(&format!("NEXT BEST ACTION {action}")), "{s}");
    assert!(s.contains(" ▲ █") || s.contains(" ▼ █"), "driver bars: {s}");

    // Search a name that is on screen.
    let word = cell(rows.last().unwrap(), 0, NAME_WIDTH)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    t.keys(&["/"]);
    t.text(&word);
    t.wait_for("search bar", |s| s.contains(&format!("search: {word}")));
    t.keys(&["Enter"]);
    t.wait_for("search closed", |s| {
        s.contains(&format!("filters: next best action: {action}"))
    });

    // Export the view and check the file against the screen.
    t.keys(&["e"]);
    t.wait_for("export prompt", |s| s.contains("export CSV"));
    t.keys(&["Enter"]);
    let s = t.wait_for("export done", |s| s.contains("exported "));
    let path = exports.join("cge-accounts-2026-10-31.csv");
    assert!(s.contains(&format!("exported {count} rows")), "{s}");
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (name_col, action_col, churn_col) = (
        at("account_name"),
        at("next_best_action"),
        at("churn_probability"),
    );
    let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), count);
    assert!(records.iter().all(|r| r[action_col] == action));
    let churn: Vec<f64> = records
        .iter()
        .map(|r| r[churn_col].parse().unwrap())
        .collect();
    assert!(
        churn.windows(2).all(|w| w[0] >= w[1]),
        "export not in churn order"
    );
    let names: Vec<String> = records
        .iter()
        .map(|r| cell(&r[name_col], 0, NAME_WIDTH))
        .collect();
    let on_screen: Vec<String> = rows.iter().map(|r| cell(r, 0, NAME_WIDTH)).collect();
    assert_eq!(
        names[..on_screen.len()],
        on_screen[..],
        "exported order differs from the screen"
    );

    // Quit: the program ends and the terminal is given back.
    t.quit_with(&["q"]);
    assert!(Path::new(&path).exists());
    drop(t);

    // Open again: the stored run shows at once (no new run: the data did not change). The
    // book is bigger than the first screen's preview, so its rest loads behind it; the
    // detail's drivers and the report's map of the book come from that run.
    let t = Tmux::start(&cmd, 150, 40);
    let s = t.wait_for("the stored run, whole", |s| {
        s.contains("as of 2026-10-31 · run 1") && s.contains(" · ARR ")
    });
    let active: usize = s
        .lines()
        .next()
        .and_then(|l| l.split(" active accounts").next())
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        active > cge::tui::PREVIEW_ROWS,
        "the book is bigger than the preview"
    );
    assert_eq!(footer_count(&s), active, "{s}");
    assert!(
        !s.contains("run 2") && !s.contains("loading the book"),
        "{s}"
    );
    t.keys(&["Enter"]);
    t.wait_for("the detail", |s| s.contains("WHY THIS SCORE"));
    t.keys(&["Escape", "m"]);
    let s = t.wait_for("the map", |s| {
        s.contains(&format!("map of the view · {active} accounts"))
    });
    assert_eq!(
        s.matches('◆').count(),
        2,
        "the selected account and the legend: {s}"
    );
    t.quit_with(&["Escape", "q"]);
}

#[test]
fn at_80x24_a_csm_scrolls_the_columns_sorts_reads_help_and_the_detail_to_their_ends() {
    if !tmux_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    for args in [
        &[
            "simulate",
            "--accounts",
            "300",
            "--seed",
            "9",
            "--as-of",
            "2026-10-31",
        ][..],
        &["run"][..],
    ] {
        let out = cge(&ws, args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let cmd = format!(
        "env NO_COLOR=1 XDG_CONFIG_HOME={cfg} {bin} --workspace {ws}",
        cfg = tmp.path().join("config").display(),
        bin = env!("CARGO_BIN_EXE_cge"),
        ws = ws.display()
    );
    let t = Tmux::start(&cmd, 80, 24);
    let s = t.wait_for("the stored run", |s| s.contains(" · ARR "));
    let footer = s.lines().last().unwrap();
    assert!(footer.contains("? help · q quit"), "{footer}");
    assert!(
        s.lines()
            .any(|l| l.starts_with("Account") && l.ends_with('›')),
        "{s}"
    );

    // The cursor walks right past the edge: the table follows, the account stays.
    t.keys(&["l", "l", "l", "l", "l", "l", "l", "l", "l"]);
    t.keys(&["]"]);
    let s = t.wait_for("a sort on a scrolled column", |s| {
        s.lines()
            .any(|l| l.starts_with("Account") && l.contains('‹') && l.contains("Owner▼"))
    });
    let owners: Vec<String> = table_rows(&s)
        .iter()
        .map(|r| cell(r, column_x(&s, "Owner"), 13))
        .collect();
    assert!(owners.windows(2).all(|w| w[0] >= w[1]), "{owners:?}");

    // Help, scrolled to its end.
    t.keys(&["?", "G"]);
    t.wait_for("the end of help", |s| s.contains("edges."));
    t.keys(&["Escape"]);

    // The detail below the table, scrolled to its last line and no further.
    t.keys(&["Enter", "Tab", "G"]);
    let last = cge::features::dictionary::FEATURES
        .iter()
        .rev()
        .find(|f| f.group == *cge::features::dictionary::Group::ALL.last().unwrap())
        .unwrap()
        .name;
    let end = t.wait_for("the detail's last line", |s| s.contains(last));
    t.keys(&["j", "j", "j"]);
    assert!(t.screen().contains(last), "scrolled past the end:\n{end}");

    // "My book" chosen once in the owner picker: saved, and the next start opens on it.
    let me = owners[0].trim().to_string();
    t.keys(&["Escape", "f"]);
    t.text("owner");
    t.keys(&["Enter"]);
    t.wait_for("the owner picker", |s| s.contains("Ctrl-s my book"));
    t.text(&me);
    t.keys(&["C-s"]);
    t.wait_for("saved", |s| s.contains("saved me"));
    let config = tmp.path().join("config/cge/config.toml");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        format!("me = {me:?}\n")
    );
    t.quit_with(&["q"]);
    let t = Tmux::start(&cmd, 80, 24);
    let s = t.wait_for("my book", |s| s.contains("your book"));
    assert!(s.contains(&format!("owner: {me}")), "{s}");
    t.quit_with(&["q"]);
}
