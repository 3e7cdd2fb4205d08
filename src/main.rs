//! The `cge` command line: the TUI by default, headless subcommands for scripting.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cge::features;
use cge::simulate::{self, SimConfig};
use cge::workspace::{self, Workspace, import};

// mimalloc returns freed pages to the system: with glibc's allocator the memory a finished
// stage freed stayed resident, and `cge run` at 100,000 accounts peaked ~1 GB higher.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    workspace::dates::parse_iso_date(s)
        .ok_or_else(|| format!("expected a date YYYY-MM-DD (e.g. 2024-12-31), got {s:?}"))
}

/// Removes a workspace file this command created, unless disarmed: a command that fails
/// leaves no new (empty) workspace behind. Declare it before the `Workspace` so the
/// connection closes first.
struct NewWorkspaceGuard {
    path: Option<PathBuf>,
}

impl NewWorkspaceGuard {
    fn new(path: &std::path::Path) -> Self {
        NewWorkspaceGuard {
            path: (!path.exists()).then(|| path.to_path_buf()),
        }
    }

    fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for NewWorkspaceGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut f = p.clone().into_os_string();
                f.push(suffix);
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

#[derive(Parser)]
#[command(
    name = "cge",
    version,
    about = "Compound Growth Engine: account health, churn risk and next best actions for Customer Success"
)]
#[command(
    long_about = "Compound Growth Engine: account health, churn risk and next best actions for Customer Success.\n\n\
    Without a subcommand, cge opens the terminal UI on the workspace."
)]
struct Cli {
    /// The workspace (a SQLite file). Default: workspace.db in the user's data folder.
    #[arg(long, global = true, env = "CGE_WORKSPACE", value_name = "PATH")]
    workspace: Option<PathBuf>,

    /// The UI's config file (me, columns, theme, keys; also `export --what book`'s columns).
    /// Default: config.toml in the user's config folder.
    #[arg(long, global = true, env = "CGE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LabelArg {
    Auto,
    ChurnEvents,
    ChurnFlag,
}

#[derive(Subcommand)]
enum Command {
    /// Import the five contract CSV files (accounts, subscriptions, feature_usage,
    /// support_tickets, churn_events) from a folder, all or nothing.
    Import {
        /// Folder holding accounts.csv, subscriptions.csv, feature_usage.csv,
        /// support_tickets.csv and churn_events.csv.
        dir: PathBuf,
        /// Replace the workspace's data atomically (otherwise a non-empty workspace is refused).
        #[arg(long)]
        replace: bool,
    },
    /// Simulate a B2B SaaS company's accounts into the workspace (deterministic for a seed and as-of date).
    Simulate {
        /// Number of accounts.
        #[arg(long, default_value_t = 500)]
        accounts: usize,
        /// Random seed: the same seed, size and as-of date give identical tables.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The last day of the simulated history (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        as_of: chrono::NaiveDate,
        /// Number of CSMs who own the accounts.
        #[arg(long, default_value_t = 8)]
        csms: usize,
        /// Average subscriptions per account: sets how often accounts buy seats (1.65 or less:
        /// never; large values saturate near 5).
        #[arg(long, default_value_t = simulate::DEFAULT_SUBSCRIPTIONS)]
        subscriptions_per_account: f64,
        /// Average usage rows per account.
        #[arg(long, default_value_t = simulate::DEFAULT_USAGE_ROWS)]
        usage_per_account: f64,
        /// Average support tickets per account.
        #[arg(long, default_value_t = simulate::DEFAULT_TICKETS)]
        tickets_per_account: f64,
        /// Overwrite a workspace that already holds data.
        #[arg(long)]
        replace: bool,
    },
    /// Build the golden record (point-in-time health features per account) and print a summary.
    Features {
        /// Use data up to and including this date (default: the workspace's data date).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// Print the feature dictionary as Markdown instead (no workspace needed).
        #[arg(long)]
        dictionary: bool,
    },
    /// Train and backtest the churn model on month-end snapshots and score today's accounts.
    Run {
        /// Score the accounts as of this date (default: the workspace's data date).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// Days after a snapshot in which a churn counts (the label window).
        #[arg(long, default_value_t = 90, value_name = "DAYS")]
        horizon: i64,
        /// Month-end snapshots stacked for training (fewer when the history is shorter).
        #[arg(long, default_value_t = 6)]
        snapshots: usize,
        /// Where churn labels come from: dated churn events, accounts.churn_flag (scored out of
        /// fold), or auto (events unless their dates look unreliable).
        #[arg(long, value_enum, default_value_t = LabelArg::Auto)]
        label: LabelArg,
        /// The Next Best Action playbook (TOML). Default: playbook.toml in the config folder
        /// if present, else the built-in one (assets/playbook.toml).
        #[arg(long, value_name = "FILE")]
        playbook: Option<PathBuf>,
        /// Stored runs to keep; older ones are deleted when this run is stored.
        #[arg(long, default_value_t = cge::pipeline::run::DEFAULT_KEEP_RUNS, value_name = "N")]
        keep: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the stored runs, newest first.
    Runs {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a stored run as CSV: the action list, cross-sell opportunities, escalation
    /// risks (the original notebook's three files), the golden record, or the book as the
    /// app's table shows it (its columns and order from config.toml, ARR at risk first).
    Export {
        /// Which file.
        #[arg(long, value_enum, default_value_t = WhatArg::Actions)]
        what: WhatArg,
        /// The run to export (default: the newest; `cge runs` lists them).
        #[arg(long, value_name = "ID")]
        run: Option<i64>,
        /// Output file, or - for standard output. Default: the original's file name
        /// (csm_action_list.csv, crosssell_opportunities.csv, escalation_risks.csv,
        /// golden_record.csv; cge_book.csv for the book) in the current folder.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// With --what book: the on-screen titles and formats ("42%▲", "$120.0k") instead of
        /// raw values under the column keys.
        #[arg(long)]
        labels: bool,
        #[command(flatten)]
        filters: cge::export::tables::Filters,
    },
    /// Show the workspace's path, schema version, row counts and date ranges.
    Info,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum WhatArg {
    /// csm_action_list.csv: every scored account, its next best action and why.
    Actions,
    /// crosssell_opportunities.csv: the cross-sell scores and recommended features.
    Crosssell,
    /// escalation_risks.csv: the support-escalation risks.
    Escalation,
    /// golden_record.csv: the run's health features per account.
    Golden,
    /// cge_book.csv: the app's table, the accounts with the columns the app shows.
    Book,
}

/// The config: `--config` / `CGE_CONFIG` (which must exist), else the default location's
/// file if there is one, else the built-in defaults.
fn load_config(explicit: Option<&std::path::Path>, no_color: bool) -> Result<cge::tui::Config> {
    let path = explicit
        .map(std::path::Path::to_path_buf)
        .or_else(cge::tui::config::default_path);
    cge::tui::Config::load(path.as_deref(), explicit.is_some(), no_color)
}

/// Write a CSV table to `out` (`-`: standard output), never replacing a file without
/// `--force`.
fn write_table<I, R>(
    out: &std::path::Path,
    headers: &[&str],
    rows: I,
    force: bool,
) -> Result<ExitCode>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    if out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        cge::export::write_rows(stdout.lock(), headers, rows)?;
    } else {
        let n = cge::export::write_csv(out, headers, rows, force).map_err(|e| {
            match e.downcast_ref::<cge::export::AlreadyExists>() {
                Some(_) => anyhow::anyhow!(
                    "{} already exists: pass --force to replace it, or -o another file",
                    out.display()
                ),
                None => e,
            }
        })?;
        eprintln!("wrote {n} rows to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `cge export --what book`: the run's accounts as the app's table holds them, in its
/// default order (ARR at risk first), with the config's columns, filtered by the flags.
fn export_book(
    workspace: &std::path::Path,
    run: Option<i64>,
    config: &cge::tui::Config,
    flags: &cge::export::tables::Filters,
    labels: bool,
    out: &std::path::Path,
    force: bool,
) -> Result<ExitCode> {
    use cge::pipeline::stored;
    use cge::tui::{book, view_csv};
    let ws = Workspace::open_existing(workspace)?;
    let stored = match run {
        Some(id) => stored::read(&ws, id)?.ok_or_else(|| {
            anyhow::anyhow!("no run {id} with its golden record stored: `cge runs` lists the runs")
        })?,
        None => stored::latest(&ws)?
            .ok_or_else(|| anyhow::anyhow!("no stored run to export: run `cge run` first"))?,
    };
    let mut view = book::Book::of_run(&stored)?;
    view.filters = view_csv::filters(&view, flags);
    view.sort = Some(book::default_sort(true));
    view.apply()?;
    // The app's columns: the account (frozen), then the config's.
    let mut keys = vec!["account_id", book::COLUMNS[0].key];
    keys.extend(config.columns.iter().map(|&c| book::COLUMNS[c].key));
    let (headers, rows) = view_csv::table(&view, &keys, labels, flags.search.as_deref());
    write_table(out, &headers, rows, force)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // A reader that stopped early (`cge export -o - | head`) is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn report(e: &anyhow::Error) {
    if let Some(errs) = e.downcast_ref::<import::ImportErrors>() {
        eprint!("error: {errs}");
        return;
    }
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Progress lines on stderr, timed from `started` (stdout stays the command's output).
fn progress_on_stderr(started: std::time::Instant) -> cge::job::Reporter {
    cge::job::Reporter::with(move |p| {
        eprintln!(
            "[{:>6.2} s] {:>3}% {}: {}",
            started.elapsed().as_secs_f64(),
            p.percent,
            p.stage,
            p.message
        )
    })
}

/// A progress bar on stderr (a terminal): the stage and its message, percent as the bar.
fn progress_bar() -> (cge::job::Reporter, indicatif::ProgressBar) {
    let bar = indicatif::ProgressBar::new(100);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos:>3}% {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let b = bar.clone();
    let reporter = cge::job::Reporter::with(move |p| {
        b.set_position(p.percent as u64);
        b.set_message(format!("{}: {}", p.stage, p.message));
    });
    (reporter, bar)
}

fn workspace_path(cli: &Cli) -> Result<PathBuf> {
    match &cli.workspace {
        Some(p) => Ok(p.clone()),
        None => workspace::default_path(),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let path = workspace_path(&cli)?;
    match cli.command {
        Some(Command::Import { dir, replace }) => {
            let guard = NewWorkspaceGuard::new(&path);
            let mut ws = Workspace::open(&path)?;
            let report = import::import_dir(&mut ws, &dir, import::ImportOptions { replace })?;
            for w in report.warnings.iter().chain(&report.future_rows_warning()) {
                eprintln!("warning: {w}");
            }
            let verb = if report.replaced {
                "replaced the data of"
            } else {
                "imported into"
            };
            println!("{verb} {}", ws.path().display());
            for (table, rows) in &report.rows {
                println!("  {table:<16} {rows:>10} rows");
            }
            for note in [report.as_of_note(), report.arr_note()]
                .into_iter()
                .flatten()
            {
                println!("  {note}");
            }
            drop(ws);
            guard.keep();
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Simulate {
            accounts,
            seed,
            as_of,
            csms,
            subscriptions_per_account,
            usage_per_account,
            tickets_per_account,
            replace,
        }) => {
            let mut cfg = SimConfig::new(accounts, seed, as_of);
            cfg.csms = csms;
            cfg.subscriptions_per_account = subscriptions_per_account;
            cfg.usage_rows_per_account = usage_per_account;
            cfg.tickets_per_account = tickets_per_account;
            cfg.validate()?;
            let guard = NewWorkspaceGuard::new(&path);
            let mut ws = Workspace::open(&path)?;
            let r = simulate::simulate(&mut ws, &cfg, replace)?;
            println!(
                "simulated {} accounts into {} (seed {seed}, as of {as_of})",
                r.accounts,
                ws.path().display()
            );
            println!(
                "  {} subscriptions, {} usage rows, {} tickets, {} churn events; {} accounts churned",
                r.subscriptions, r.usage, r.tickets, r.churn_events, r.churned_accounts
            );
            drop(ws);
            guard.keep();
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Features {
            dictionary: true, ..
        }) => {
            print!("{}", features::dictionary::markdown());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Features { as_of, .. }) => {
            let mut ws = Workspace::open_existing(&path)?;
            let as_of = match as_of {
                Some(d) => d,
                None => features::default_as_of(&ws)?,
            };
            let started = std::time::Instant::now();
            let reporter = progress_on_stderr(started);
            let gr = features::build_with(&mut ws, as_of, &reporter)?;
            print!("{}", features::summary(&gr)?);
            eprintln!("built in {:.2} s", started.elapsed().as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Run {
            as_of,
            horizon,
            snapshots,
            label,
            playbook,
            keep,
            json,
        }) => {
            use cge::pipeline::run::{self, LabelChoice, RunOptions};
            let playbook = cge::actions::playbook::Playbook::resolve(playbook.as_deref())?;
            let mut ws = Workspace::open_existing(&path)?;
            let opts = RunOptions {
                as_of,
                horizon,
                snapshots,
                label: match label {
                    LabelArg::Auto => LabelChoice::Auto,
                    LabelArg::ChurnEvents => LabelChoice::ChurnEvents,
                    LabelArg::ChurnFlag => LabelChoice::ChurnFlag,
                },
                playbook,
                keep_runs: keep,
                ..RunOptions::default()
            };
            let started = std::time::Instant::now();
            let (reporter, bar) = if std::io::stderr().is_terminal() {
                let (r, b) = progress_bar();
                (r, Some(b))
            } else {
                (progress_on_stderr(started), None)
            };
            let result = cge::pipeline::execute(&mut ws, &opts, &reporter);
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let (run_id, report) = result?;
            eprintln!(
                "stored as run {run_id} in {} ({:.1} s)",
                ws.path().display(),
                started.elapsed().as_secs_f64()
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", run::summary(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Runs { json }) => {
            let ws = Workspace::open_existing(&path)?;
            let runs = cge::pipeline::history::list(ws.conn())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print!("{}", cge::pipeline::history::table(&runs));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Export {
            what,
            run,
            output,
            force,
            labels,
            filters,
        }) => {
            use cge::export::tables::{self, What};
            let what = match what {
                WhatArg::Actions => What::Actions,
                WhatArg::Crosssell => What::CrossSell,
                WhatArg::Escalation => What::Escalation,
                WhatArg::Golden => What::Golden,
                WhatArg::Book => {
                    let config = load_config(cli.config.as_deref(), true)?;
                    let out = output.unwrap_or_else(|| PathBuf::from("cge_book.csv"));
                    return export_book(&path, run, &config, &filters, labels, &out, force);
                }
            };
            if labels {
                anyhow::bail!(
                    "--labels applies to --what book (the app's table); the other files hold raw values"
                );
            }
            let ws = Workspace::open_existing(&path)?;
            let table = tables::table(ws.conn(), run, what, &filters)?;
            let out = output.unwrap_or_else(|| PathBuf::from(what.file_name()));
            write_table(&out, &table.headers, table.rows, force)
        }
        Some(Command::Info) => {
            let ws = Workspace::open_existing(&path)?;
            println!("{}", workspace::info::info(&ws)?);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                eprintln!(
                    "cge: the interactive view needs a terminal (stdin and stdout are not both a TTY).\n\
                     For scripting, use the headless subcommands: cge simulate, cge import DIR, cge features, cge run, cge info. See `cge --help`."
                );
                return Ok(ExitCode::from(2));
            }
            // First start on the default workspace: begin with the shipped sample.
            if cli.workspace.is_none() && !path.exists() {
                workspace::create_from_sample(&path)?;
                eprintln!("created {} from the 500-account sample", path.display());
            } else if !path.exists() {
                anyhow::bail!(
                    "no workspace at {}: create one with `cge simulate --as-of YYYY-MM-DD` or `cge import DIR`",
                    path.display()
                );
            }
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let config = load_config(cli.config.as_deref(), no_color)?;
            cge::tui::run(&path, config)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
