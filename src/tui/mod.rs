//! The terminal UI. It depends on the core; nothing in the core knows the terminal.
//!
//! Keys and mouse become [`Action`]s, `App::update` applies them, and `ui::draw`
//! renders the state. Input, and the background job's progress, arrive on one
//! channel; all pending events are handled before the next frame is drawn.

pub mod action;
pub mod app;
pub mod book;
pub mod config;
pub mod keymap;
pub mod loader;
pub mod map;
pub mod picker;
pub mod text;
pub mod ui;
pub mod view_csv;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;
use ratatui::crossterm::event::{
    self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};
use ratatui::crossterm::execute;

pub use action::Action;
pub use app::App;
use app::{Mode, MouseKind};
pub use config::Config;
use text::Edit;

use crate::features::{self, GoldenRecord};
use crate::job::{Job, JobEvent, Progress};
use crate::pipeline::refresh::{self, RefreshRequest, Refreshed};
use crate::pipeline::stored::{self, StoredRun};
use crate::workspace::{self, Workspace};
use loader::{Loaded, Loader};

enum AppEvent {
    Input(Event),
    Job(JobEvent<Refreshed>),
    Loaded(Loaded),
}

/// The action a key means in the current mode (text prompts take characters).
pub fn key_action(app: &App, key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::ForceQuit);
    }
    let text_mode = matches!(app.mode, Mode::Search { .. } | Mode::Export(_));
    if let Some(edit) = (text_mode || matches!(app.mode, Mode::Filter(_)))
        .then(|| text_edit(key))
        .flatten()
    {
        return Some(Action::Edit(edit));
    }
    if text_mode {
        return match key.code {
            KeyCode::Tab if matches!(app.mode, Mode::Export(_)) => Some(Action::SwitchFocus),
            KeyCode::Enter => Some(Action::Confirm),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace => Some(Action::InputBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::Input(c)),
            _ => None,
        };
    }
    if matches!(app.mode, Mode::Filter(_)) {
        // The picker narrows as you type: letters are text, arrows move.
        return match key.code {
            KeyCode::Enter => Some(Action::Confirm),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace => Some(Action::InputBackspace),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Up => Some(Action::Up),
            KeyCode::PageDown => Some(Action::PageDown),
            KeyCode::PageUp => Some(Action::PageUp),
            KeyCode::Char('n') | KeyCode::Char('j') if ctrl => Some(Action::Down),
            KeyCode::Char('p') | KeyCode::Char('k') if ctrl => Some(Action::Up),
            KeyCode::Char('s') if ctrl => Some(Action::SaveMine),
            KeyCode::Char(c) if !ctrl => Some(Action::Input(c)),
            _ => None,
        };
    }
    app.config.keymap.action_for(key)
}

/// The editing keys of a text field (besides typing and Backspace).
fn text_edit(key: &KeyEvent) -> Option<Edit> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Left => Edit::Left,
        KeyCode::Right => Edit::Right,
        KeyCode::Home => Edit::Home,
        KeyCode::End => Edit::End,
        KeyCode::Delete => Edit::Delete,
        KeyCode::Char('a') if ctrl => Edit::Home,
        KeyCode::Char('e') if ctrl => Edit::End,
        KeyCode::Char('u') if ctrl => Edit::ClearBefore,
        KeyCode::Char('w') if ctrl => Edit::DeleteWord,
        _ => return None,
    })
}

/// What the UI shows first.
#[derive(Debug)]
pub enum Opening {
    /// The newest stored run: shown at once, a big book as its first rows while the rest
    /// loads. `current`: it scored the data as it is now, so no new run starts; otherwise
    /// one starts in the background.
    Scored { run: Box<StoredRun>, current: bool },
    /// No run, but the golden record of the data's as-of date is stored: shown at once (rule
    /// scores) while the pipeline runs in the background.
    Stored(GoldenRecord),
    /// Nothing stored for the data's as-of date (new data, or another feature dictionary):
    /// the pipeline runs in the background.
    Build,
    /// The workspace holds no data: the screen says how to get some.
    Empty,
}

/// How long quitting waits for a running pipeline to stop at its next check.
const QUIT_WAIT: Duration = Duration::from_millis(500);

/// Rows of a stored run read before the first frame (more than any screen is tall); the
/// rest of a bigger book loads behind them.
pub const PREVIEW_ROWS: usize = 200;

/// Decide what to show first. Reads only: the record the UI opens is the one for the
/// workspace's data as-of date, whatever past snapshots were computed or stored since.
pub fn opening(ws: &Workspace) -> Result<Opening> {
    if ws.is_empty()? {
        return Ok(Opening::Empty);
    }
    if let Some(run) = stored::preview(ws, PREVIEW_ROWS)? {
        let current = stored::is_current(ws, &run)?;
        return Ok(Opening::Scored {
            run: Box::new(run),
            current,
        });
    }
    Ok(match features::load(ws, features::default_as_of(ws)?)? {
        Some(gr) => Opening::Stored(gr),
        None => Opening::Build,
    })
}

/// Open the workspace and run the UI until the user quits.
pub fn run(workspace: &Path, config: Config) -> Result<()> {
    let ws = Workspace::open_existing(workspace)?;
    let export_dir = std::env::var_os("CGE_EXPORT_DIR")
        .map(Into::into)
        .unwrap_or_else(app::default_export_dir);
    let mut app = App::new(config, workspace, export_dir);
    app.sample = workspace::is_sample(ws.conn())?;
    match opening(&ws)? {
        Opening::Scored { run, current } => {
            app.set_run(&run)?;
            app.refresh_requested = !current;
        }
        Opening::Stored(gr) => {
            app.set_record(&gr)?;
            app.refresh_requested = true;
        }
        Opening::Build => app.refresh_requested = true,
        Opening::Empty => {}
    }
    drop(ws);
    let mut terminal = ratatui::try_init()?;
    execute!(std::io::stdout(), event::EnableMouseCapture)?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A crashing job is caught and reported in the status line by the job itself:
        // printing here would write over the alternate screen.
        let thread = std::thread::current();
        if thread
            .name()
            .is_some_and(|n| n.starts_with(crate::job::THREAD_PREFIX))
        {
            return;
        }
        // Only the UI thread owns the terminal.
        if thread.name() == Some("main") {
            restore_terminal();
        }
        previous(info);
    }));
    let result = event_loop(&mut terminal, &mut app);
    restore_terminal();
    let _ = std::panic::take_hook();
    result
}

fn restore_terminal() {
    let _ = execute!(std::io::stdout(), event::DisableMouseCapture);
    ratatui::restore();
    let _ = std::io::stdout().flush();
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<()> {
    let (tx, rx) = mpsc::channel::<AppEvent>();
    let stop = Arc::new(AtomicBool::new(false));
    let input = {
        let tx = tx.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("cge-input".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match event::poll(Duration::from_millis(50)) {
                        Ok(true) => match event::read() {
                            Ok(ev) => {
                                if tx.send(AppEvent::Input(ev)).is_err() {
                                    break;
                                }
                            }
                            Err(_) => break,
                        },
                        Ok(false) => {}
                        Err(_) => break,
                    }
                }
            })?
    };
    let size = terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut job: Option<Job> = None;
    let loader = {
        let tx = tx.clone();
        Loader::spawn(app.workspace.clone(), move |l| {
            let _ = tx.send(AppEvent::Loaded(l));
        })
    };
    let result = loop {
        for req in app.take_requests() {
            loader.send(req);
        }
        if app.refresh_requested {
            app.refresh_requested = false;
            let req = RefreshRequest {
                workspace: app.workspace.clone(),
            };
            let tx = tx.clone();
            app.on_progress(Progress {
                stage: "starting".into(),
                percent: 0,
                message: String::new(),
            });
            job = Some(Job::spawn(
                "refresh",
                move |r| refresh::run(&req, r),
                move |e| {
                    let _ = tx.send(AppEvent::Job(e));
                },
            ));
        }
        if let Err(e) = terminal.draw(|f| ui::draw(f, app)) {
            break Err(e.into());
        }
        let first = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(ev) => Some(ev),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
        };
        for ev in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            handle(app, ev);
        }
        if app.quit {
            break Ok(());
        }
    };
    stop.store(true, Ordering::Relaxed);
    // Quitting during a run cancels it; the stored runs stay as they were. A fit that is
    // still running after a moment ends with the process (the run is one transaction).
    if let Some(j) = job.take() {
        j.cancel_and_wait_for(QUIT_WAIT);
    }
    let _ = input.join();
    result
}

fn handle(app: &mut App, ev: AppEvent) {
    match ev {
        AppEvent::Input(Event::Key(k)) if k.kind != KeyEventKind::Release => {
            if let Some(a) = key_action(app, &k) {
                app.update(a);
            }
        }
        AppEvent::Input(Event::Mouse(m)) => {
            let kind = match m.kind {
                MouseEventKind::Down(_) => Some(MouseKind::Click),
                MouseEventKind::ScrollDown => Some(MouseKind::WheelDown),
                MouseEventKind::ScrollUp => Some(MouseKind::WheelUp),
                _ => None,
            };
            if let Some(a) = kind.and_then(|k| app.mouse_action(k, m.column, m.row)) {
                app.update(a);
            }
        }
        AppEvent::Input(Event::Resize(w, h)) => app.update(Action::Resize(w, h)),
        AppEvent::Input(_) => {}
        AppEvent::Job(JobEvent::Progress(p)) => app.on_progress(p),
        AppEvent::Job(JobEvent::Finished(r)) => app.on_job_end(r.map(Some)),
        AppEvent::Job(JobEvent::Cancelled) => app.on_job_end(Ok(None)),
        AppEvent::Loaded(l) => app.on_loaded(l),
    }
}
