//! Foreground output: service lines as `NAME | line`, events as `proctor | …`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::control::proto::Event;
use crate::logs::{parse_record, LogBatch, RecordStream};

/// Settings for printing a project's output to stdout.
#[derive(Debug, Clone)]
pub struct Echo {
    /// Use ANSI colors.
    pub color: bool,
}

impl Echo {
    /// Colors when stdout is a terminal and `NO_COLOR` is unset.
    pub fn for_stdout() -> Self {
        Self {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// A stable color per service index.
pub fn color_code(index: usize) -> &'static str {
    const PALETTE: &[&str] = &["36", "33", "32", "35", "34", "91", "96", "93", "92", "95"];
    PALETTE[index % PALETTE.len()]
}

/// Formats `NAME | ` padded to `width`, colored when asked.
pub fn prefix(name: &str, index: usize, width: usize, color: bool) -> String {
    if color {
        format!("\x1b[{}m{name:<width$} |\x1b[0m ", color_code(index))
    } else {
        format!("{name:<width$} | ")
    }
}

/// Prints log batches and events until both channels close.
pub(crate) async fn print(
    echo: Echo,
    names: Vec<String>,
    mut logs: broadcast::Receiver<Arc<LogBatch>>,
    mut events: broadcast::Receiver<Arc<Event>>,
) {
    let width = names.iter().map(String::len).max().unwrap_or(0).max(7);
    let mut out = Vec::with_capacity(8192);
    loop {
        out.clear();
        tokio::select! {
            batch = logs.recv() => match batch {
                Ok(batch) => {
                    let name = names.get(batch.service).map_or("?", String::as_str);
                    let pre = prefix(name, batch.service, width, echo.color);
                    for raw in batch.records.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
                        if let Some(rec) = parse_record(raw) {
                            out.extend_from_slice(pre.as_bytes());
                            if rec.stream == RecordStream::Sys {
                                out.extend_from_slice(b"[proctor] ");
                            }
                            out.extend_from_slice(rec.line);
                            out.push(b'\n');
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let pre = prefix("proctor", usize::MAX, width, false);
                    out.extend_from_slice(
                        format!("{pre}{n} output batches not shown (see `proctor logs`)\n").as_bytes(),
                    );
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            ev = events.recv() => match ev {
                Ok(ev) => {
                    let pre = prefix("proctor", usize::MAX, width, false);
                    let mut line = format!("{pre}{} {}", ev.service, ev.state.as_str());
                    if let Some(pid) = ev.pid {
                        line.push_str(&format!(" (pid {pid})"));
                    }
                    if let Some(r) = &ev.reason {
                        line.push_str(&format!(": {r}"));
                    }
                    line.push('\n');
                    out.extend_from_slice(line.as_bytes());
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(&out)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // stdout is gone (closed terminal): keep supervising, stop echoing.
            break;
        }
    }
}
