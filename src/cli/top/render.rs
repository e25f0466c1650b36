//! Drawing the screen from [`App`]: a header, the services' table, the selected service's
//! resources and history, the log pane and a footer of keys. Laid out for 80×24 first;
//! wider terminals get the backend column and longer sparklines.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap,
};
use ratatui::Frame;

use super::app::{App, Link, Mode};
use super::input::KEYS;
use crate::cli::commands::{human_bytes, short_duration};
use crate::control::proto::State;
use crate::logs::RecordStream;

/// Colors for service names in the merged log pane, in turn.
const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
];

/// Draws the whole screen.
pub(crate) fn draw(f: &mut Frame<'_>, app: &App) {
    let area = f.area();
    let table_rows = u16::try_from(app.rows.len()).unwrap_or(u16::MAX);
    // The table takes what it needs up to half the screen; the logs get the rest.
    let table_h = (table_rows + 3).clamp(4, (area.height / 2).max(4));
    let [header, table, detail, logs, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_h),
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, app, header);
    if app.rows.is_empty() {
        draw_empty(f, app, table.union(detail).union(logs));
    } else {
        draw_table(f, app, table);
        draw_detail(f, app, detail);
        draw_logs(f, app, logs);
    }
    draw_footer(f, app, footer);
    if app.mode == Mode::Help {
        draw_help(f, app, area);
    }
}

fn style(app: &App, s: Style) -> Style {
    if app.color {
        s
    } else {
        // NO_COLOR: emphasis stays, colors go.
        Style::default().add_modifier(s.add_modifier)
    }
}

fn state_color(s: State) -> Color {
    match s {
        State::Running => Color::Green,
        State::Starting | State::Waiting => Color::Yellow,
        State::Backoff | State::Stopping => Color::Magenta,
        State::Failed => Color::Red,
        State::Stopped | State::Exited => Color::DarkGray,
    }
}

fn draw_header(f: &mut Frame<'_>, app: &App, area: Rect) {
    let count = |st: State| app.rows.iter().filter(|r| r.status.state == st).count();
    let mut spans = vec![Span::styled(
        format!(" proctor top · {} ", app.project),
        style(app, Style::default().add_modifier(Modifier::BOLD)),
    )];
    match &app.link {
        Link::Connecting => spans.push(Span::raw("· connecting…")),
        Link::Up(pid) => {
            spans.push(Span::raw(format!(
                "· supervisor {pid} · {} services: {} running",
                app.rows.len(),
                count(State::Running)
            )));
            let failed = count(State::Failed);
            if failed > 0 {
                spans.push(Span::styled(
                    format!(", {failed} failed"),
                    style(app, Style::default().fg(Color::Red)),
                ));
            }
        }
        Link::Down(_) if !app.rows.is_empty() => spans.push(Span::styled(
            "· supervisor gone: reconnecting… (u: up -d)",
            style(
                app,
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        )),
        Link::Down(_) => spans.push(Span::raw("· no supervisor")),
    }
    f.render_widget(Line::from(spans), area);
}

fn draw_empty(f: &mut Frame<'_>, app: &App, area: Rect) {
    let text = match &app.link {
        Link::Connecting => vec![Line::from("Connecting to the supervisor…")],
        Link::Up(_) => vec![Line::from("The project has no services.")],
        Link::Down(why) => vec![
            Line::from(Span::styled(
                format!("No supervisor is running for project {}.", app.project),
                style(app, Style::default().add_modifier(Modifier::BOLD)),
            )),
            Line::from(why.clone()),
            Line::from(""),
            Line::from("Press u to start one (proctor up -d), q to quit."),
            Line::from("This screen connects by itself once a supervisor runs."),
        ],
    };
    let p = Paragraph::new(text)
        .wrap(Wrap { trim: true })
        .block(Block::default().borders(Borders::ALL).title(" services "));
    f.render_widget(p, area);
}

fn draw_table(f: &mut Frame<'_>, app: &App, area: Rect) {
    let wide = area.width >= 110;
    let name_w = app
        .rows
        .iter()
        .map(|r| r.status.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 24);
    let mut widths = vec![
        Constraint::Length(u16::try_from(name_w).unwrap_or(24)),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let mut head = vec![
        "NAME",
        "STATE",
        "PID",
        "CPU%",
        "MEM",
        "RST",
        "UP",
        "READY / REASON",
    ];
    if wide {
        widths.push(Constraint::Length(9));
        head.push("BACKEND");
    }
    let rows = app.rows.iter().map(|r| {
        let s = &r.status;
        let ready = match (&s.reason, s.ready) {
            (Some(why), _) => why.clone(),
            (None, true) => "ready".to_string(),
            (None, false) => s.probe_error.clone().unwrap_or_default(),
        };
        let mut cells = vec![
            Cell::from(s.name.clone()),
            Cell::from(s.state.as_str())
                .style(style(app, Style::default().fg(state_color(s.state)))),
            Cell::from(s.pid.map(|p| p.to_string()).unwrap_or_default()),
            Cell::from(s.cpu_percent.map(|c| format!("{c:.1}")).unwrap_or_default()),
            Cell::from(s.memory_bytes.map(human_bytes).unwrap_or_default()),
            Cell::from(s.restarts.to_string()),
            Cell::from(if s.pid.is_some() {
                short_duration(s.uptime_ms)
            } else {
                String::new()
            }),
            Cell::from(ready),
        ];
        if wide {
            cells.push(Cell::from(s.backend.clone()));
        }
        Row::new(cells)
    });
    let dim = !matches!(app.link, Link::Up(_));
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(style(app, Style::default().add_modifier(Modifier::BOLD))))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("›")
        .style(if dim {
            style(app, Style::default().fg(Color::DarkGray))
        } else {
            Style::default()
        })
        .block(Block::default().borders(Borders::ALL).title(" services "));
    let mut state = TableState::default().with_selected(Some(app.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_detail(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(row) = app.rows.get(app.selected) else {
        return;
    };
    // Under the table, which shows whose this is by its highlight.
    let block = Block::default().borders(Borders::LEFT | Borders::RIGHT | Borders::BOTTOM);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [cpu, mem, changes] = Layout::vertical([Constraint::Length(1); 3]).areas(inner);
    let spark = |f: &mut Frame<'_>, area: Rect, label: &str, data: Vec<u64>, now: String, c| {
        let [l, s, v] = Layout::horizontal([
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(8),
        ])
        .areas(area);
        f.render_widget(Span::raw(label.to_string()), l);
        // The newest samples that fit.
        let take = usize::from(s.width);
        let data = data[data.len().saturating_sub(take)..].to_vec();
        f.render_widget(
            Sparkline::default()
                .data(&data)
                .style(style(app, Style::default().fg(c))),
            s,
        );
        f.render_widget(Line::from(now).right_aligned(), v);
    };
    let cpu_now = row
        .status
        .cpu_percent
        .map(|c| format!("{c:.1}%"))
        .unwrap_or_default();
    let mem_now = row.status.memory_bytes.map(human_bytes).unwrap_or_default();
    spark(
        f,
        cpu,
        "cpu",
        row.cpu.iter().copied().collect(),
        cpu_now,
        Color::Cyan,
    );
    spark(
        f,
        mem,
        "mem",
        row.memory.iter().copied().collect(),
        mem_now,
        Color::Blue,
    );
    let mut spans = vec![Span::raw("history ")];
    for (n, (at, what)) in row.changes.iter().rev().take(4).enumerate() {
        let t = crate::util::timestamp(*at);
        if n > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(
            format!("{} ", t.get(11..19).unwrap_or_default()),
            style(app, Style::default().fg(Color::DarkGray)),
        ));
        spans.push(Span::raw(what.clone()));
    }
    if row.changes.is_empty() {
        spans.push(Span::raw("(no change since top started)"));
    }
    f.render_widget(Line::from(spans), changes);
}

fn draw_logs(f: &mut Frame<'_>, app: &App, area: Rect) {
    let visible = app.visible_logs();
    let height = usize::from(area.height.saturating_sub(2));
    let end = visible
        .len()
        .saturating_sub(app.scroll.min(visible.len().saturating_sub(height)));
    let start = end.saturating_sub(height);
    let index_of = |name: &str| {
        app.rows
            .iter()
            .position(|r| r.status.name == name)
            .unwrap_or(0)
    };
    let name_w = visible[start..end]
        .iter()
        .map(|e| e.service.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line<'_>> = visible[start..end]
        .iter()
        .map(|e| {
            let mut spans = vec![Span::styled(
                format!("{} ", e.time),
                style(app, Style::default().fg(Color::DarkGray)),
            )];
            if app.all_logs {
                spans.push(Span::styled(
                    format!("{:<name_w$} | ", e.service),
                    style(
                        app,
                        Style::default().fg(PALETTE[index_of(&e.service) % PALETTE.len()]),
                    ),
                ));
            }
            let line_style = match e.stream {
                RecordStream::Err => Style::default().fg(Color::Red),
                RecordStream::Sys => Style::default().add_modifier(Modifier::ITALIC),
                RecordStream::Out => Style::default(),
            };
            spans.push(Span::styled(e.line.clone(), style(app, line_style)));
            Line::from(spans)
        })
        .collect();
    let whose = if app.all_logs {
        "all services".to_string()
    } else {
        app.selected_name().unwrap_or_default().to_string()
    };
    let mut title = format!(" logs: {whose} · {} ", app.streams.label());
    if let Some(s) = &app.search {
        title.push_str(&format!("· /{s} "));
    }
    if app.paused.is_some() {
        title.push_str("· PAUSED ");
    }
    if app.scroll > 0 {
        title.push_str(&format!("· {} back ", visible.len() - end));
    }
    let p = Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title));
    f.render_widget(p, area);
}

fn draw_footer(f: &mut Frame<'_>, app: &App, area: Rect) {
    let key = |k: &str| {
        Span::styled(
            k.to_string(),
            style(app, Style::default().add_modifier(Modifier::BOLD)),
        )
    };
    let line = match &app.mode {
        Mode::Confirm(verb, service) => Line::from(vec![
            Span::raw(format!(" {} {service}", verb.name())),
            Span::raw(match verb {
                super::app::Verb::Signal(sig) => format!(" with SIG{sig}"),
                _ => String::new(),
            }),
            Span::raw("? "),
            key("y"),
            Span::raw(" yes, any other key: no"),
        ]),
        Mode::Search(text) => Line::from(format!(" search: {text}▏ (Enter keep, Esc clear)")),
        Mode::Signal(service, text) => Line::from(format!(
            " signal to send to {service}: {text}▏ (Enter, Esc)"
        )),
        Mode::Normal | Mode::Help => match &app.message {
            Some(m) => Line::from(format!(" {m}")),
            None => Line::from(vec![
                key(" q"),
                Span::raw(" quit "),
                key("s"),
                Span::raw(" start "),
                key("x"),
                Span::raw(" stop "),
                key("r"),
                Span::raw(" restart "),
                key("K"),
                Span::raw(" signal "),
                key("a"),
                Span::raw(" attach "),
                key("l"),
                Span::raw(" all logs "),
                key("/"),
                Span::raw(" search "),
                key("?"),
                Span::raw(" keys"),
            ]),
        },
    };
    f.render_widget(line, area);
}

fn draw_help(f: &mut Frame<'_>, app: &App, area: Rect) {
    let h = u16::try_from(KEYS.len() + 3)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let w = 64.min(area.width);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let mut lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<10}"),
                    style(app, Style::default().add_modifier(Modifier::BOLD)),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(" any key closes this"));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        r,
    );
}
