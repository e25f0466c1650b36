//! The terminal while `top` owns it: raw mode and the alternate screen, always given back
//! — on return, on error, on panic, and before a signal ends us (see `conn::spawn_signals`).

use std::io::{stdout, Stdout};
use std::sync::Once;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

/// The terminal `top` draws on.
pub(crate) type Term = Terminal<CrosstermBackend<Stdout>>;

/// Holds the terminal in raw mode on the alternate screen; dropping it restores both.
pub(crate) struct Guard;

static PANIC_HOOK: Once = Once::new();

impl Guard {
    /// Takes the terminal over.
    pub(crate) fn enter() -> std::io::Result<(Self, Term)> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // Restored before the message, so it lands on the normal screen, readable.
                restore();
                previous(info);
            }));
        });
        let guard = Self;
        enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen)?;
        let term = Terminal::new(CrosstermBackend::new(stdout()))?;
        Ok((guard, term))
    }

    /// Gives the terminal back for a while (to `attach`).
    pub(crate) fn suspend(&self) {
        restore();
    }

    /// Takes it again after [`Guard::suspend`].
    pub(crate) fn resume(&self, term: &mut Term) -> std::io::Result<()> {
        enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen)?;
        term.clear()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor; harmless when done twice.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, Show);
}
