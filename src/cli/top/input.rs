//! Keys: what each does to the screen, and what it asks of the world outside it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Link, Mode, Verb};

/// What a key asks for beyond the screen itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Leave `top`.
    Quit,
    /// Ask the supervisor to do `verb` to a service.
    Act(Verb, String),
    /// Hand the terminal to `proctor attach SERVICE` until it returns.
    Attach(String),
    /// Start a supervisor (`proctor up -d`).
    Up,
}

/// The keys, as `?` lists them.
pub(crate) const KEYS: &[(&str, &str)] = &[
    ("↑/↓ j/k", "select a service"),
    ("s", "start the selected service"),
    ("x", "stop it (asks first)"),
    ("r", "restart it (asks first)"),
    ("K", "send it a signal (asks which, then first)"),
    ("a", "attach (tmux, container); detach to come back"),
    ("u", "start the supervisor when none runs (proctor up -d)"),
    ("l", "logs of the selected service / all services"),
    ("/", "search the logs (Enter keeps, Esc clears)"),
    ("e", "streams shown: out+err, out, err"),
    ("p", "pause / resume the logs"),
    ("PgUp/PgDn", "scroll the logs back / forward"),
    ("?", "this list"),
    ("q Ctrl-C", "quit"),
];

impl App {
    /// Acts on `key`; returns what it asks of the outside, if anything.
    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Effect::Quit);
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key),
            Mode::Help => None,
            Mode::Confirm(verb, service) => match key.code {
                KeyCode::Char('y' | 'Y') => Some(Effect::Act(verb, service)),
                _ => {
                    self.message = Some(format!("{} {service}: cancelled", verb.name()));
                    None
                }
            },
            Mode::Search(mut text) => {
                match key.code {
                    KeyCode::Enter => {
                        self.search = (!text.is_empty()).then_some(text);
                        self.scroll = 0;
                    }
                    KeyCode::Esc => self.search = None,
                    KeyCode::Backspace => {
                        text.pop();
                        self.mode = Mode::Search(text);
                    }
                    KeyCode::Char(c) => {
                        text.push(c);
                        self.mode = Mode::Search(text);
                    }
                    _ => self.mode = Mode::Search(text),
                }
                None
            }
            Mode::Signal(service, mut text) => {
                match key.code {
                    KeyCode::Enter if !text.is_empty() => {
                        self.mode = Mode::Confirm(Verb::Signal(text.to_uppercase()), service);
                    }
                    KeyCode::Esc => {}
                    KeyCode::Backspace => {
                        text.pop();
                        self.mode = Mode::Signal(service, text);
                    }
                    KeyCode::Char(c) if c.is_ascii_alphanumeric() => {
                        text.push(c);
                        self.mode = Mode::Signal(service, text);
                    }
                    _ => self.mode = Mode::Signal(service, text),
                }
                None
            }
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let selected = self.selected_name().map(str::to_owned);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Effect::Quit),
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                self.scroll = 0;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.rows.len().saturating_sub(1));
                self.scroll = 0;
            }
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = self.rows.len().saturating_sub(1),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('/') => {
                self.mode = Mode::Search(self.search.clone().unwrap_or_default());
            }
            KeyCode::Char('l') => {
                self.all_logs = !self.all_logs;
                self.scroll = 0;
            }
            KeyCode::Char('e') => self.next_streams(),
            KeyCode::Char('p') => self.toggle_pause(),
            KeyCode::Char('u') if !matches!(self.link, Link::Up(_)) => return Some(Effect::Up),
            KeyCode::Char('s') => return selected.map(|s| Effect::Act(Verb::Start, s)),
            KeyCode::Char('x') => {
                if let Some(s) = selected {
                    self.mode = Mode::Confirm(Verb::Stop, s);
                }
            }
            KeyCode::Char('r') => {
                if let Some(s) = selected {
                    self.mode = Mode::Confirm(Verb::Restart, s);
                }
            }
            KeyCode::Char('K') => {
                if let Some(s) = selected {
                    self.mode = Mode::Signal(s, "TERM".into());
                }
            }
            KeyCode::Char('a') => return selected.map(Effect::Attach),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::{Reply, State};

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn app() -> App {
        let mut app = App::new("p".into(), false);
        let svc = |name: &str| super::super::tests::service(name, State::Running, Some(1));
        app.on_status(Reply {
            project: "p".into(),
            supervisor_pid: 7,
            services: vec![svc("a"), svc("b")],
            ..Reply::default()
        });
        app
    }

    #[test]
    fn destructive_actions_ask_first() {
        let mut app = app();
        assert_eq!(app.on_key(key('j')), None);
        assert_eq!(app.on_key(key('r')), None);
        assert_eq!(app.mode, Mode::Confirm(Verb::Restart, "b".into()));
        assert_eq!(
            app.on_key(key('y')),
            Some(Effect::Act(Verb::Restart, "b".into()))
        );
        assert_eq!(app.on_key(key('x')), None);
        assert_eq!(app.on_key(key('n')), None, "anything but y cancels");
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(
            app.on_key(key('s')),
            Some(Effect::Act(Verb::Start, "b".into()))
        );
    }

    #[test]
    fn a_signal_is_typed_then_confirmed() {
        let mut app = app();
        app.on_key(key('K'));
        for _ in 0..4 {
            app.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        }
        for c in "usr1".chars() {
            app.on_key(key(c));
        }
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(
            app.on_key(key('y')),
            Some(Effect::Act(Verb::Signal("USR1".into()), "a".into()))
        );
    }

    #[test]
    fn up_is_offered_only_without_a_supervisor() {
        let mut app = app();
        assert_eq!(app.on_key(key('u')), None);
        app.on_down("gone".into());
        assert_eq!(app.on_key(key('u')), Some(Effect::Up));
    }
}
