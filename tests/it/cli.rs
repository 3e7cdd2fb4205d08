//! The command line itself: help, version, no-terminal behaviour.

use crate::support::*;

#[test]
fn help_on_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let top = cge(&ws, &["--help"]);
    assert!(top.status.success());
    let text = stdout(&top);
    for sub in ["import", "info", "simulate", "features", "run"] {
        assert!(text.contains(sub), "{sub} missing from --help:\n{text}");
        let out = cge(&ws, &[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help");
        assert!(stdout(&out).contains("Usage: cge"), "{}", stdout(&out));
    }
    assert!(stdout(&cge(&ws, &["import", "--help"])).contains("--replace"));
    let run = stdout(&cge(&ws, &["run", "--help"]));
    for flag in ["--as-of", "--horizon", "--snapshots", "--label", "--json"] {
        assert!(run.contains(flag), "{flag} missing from run --help:\n{run}");
    }
    let v = cge(&ws, &["--version"]);
    assert_eq!(
        stdout(&v).trim(),
        format!("cge {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(!ws.exists(), "help must not create a workspace");
}

#[test]
fn without_a_terminal_the_tui_explains_instead_of_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws.db");
    let out = cge(&ws, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("cge import DIR"), "{err}");
    assert!(out.stdout.is_empty(), "nothing may be written to a pipe");
}

#[test]
fn workspace_comes_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("env.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cge"))
        .args(["import", fixture("import/valid").to_str().unwrap()])
        .env("CGE_WORKSPACE", &ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&ws), vec![4, 6, 7, 4, 2]);
}
