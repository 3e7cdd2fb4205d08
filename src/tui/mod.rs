//! The terminal UI. Depends on the core; nothing in the core knows the terminal.
//!
//! First cut: a summary of the open workspace. The accounts browser replaces it.

use anyhow::Result;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};
use ratatui::{DefaultTerminal, Frame};

use crate::workspace::{Workspace, info};

pub fn run(ws: &Workspace) -> Result<()> {
    let summary = info::info(ws)?.to_string();
    // `ratatui::init` installs a panic hook that restores the terminal.
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &summary);
    ratatui::restore();
    result
}

fn event_loop(terminal: &mut DefaultTerminal, summary: &str) -> Result<()> {
    loop {
        terminal.draw(|f| draw(f, summary))?;
        if let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
            && (k.code == KeyCode::Char('q')
                || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)))
        {
            return Ok(());
        }
    }
}

fn draw(f: &mut Frame, summary: &str) {
    let [body, footer] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(f.area());
    f.render_widget(
        Paragraph::new(summary).block(Block::bordered().title(" cge — workspace ")),
        body,
    );
    f.render_widget(Line::from(" q quit"), footer);
}
