//! A plain `status` call read without clap.
//!
//! clap builds its whole command tree (every verb, every flag) before it reads a word: in
//! a `proctor status`, that was 40% of the instructions the process ran. Scripts, prompts
//! and dashboards poll `status`, so its common shapes are read here; anything else (a flag
//! not listed below, `--`, a help request, a value clap would judge) goes to clap, which
//! then reads it as always. A test holds this reading to clap's on every shape it takes.

use std::ffi::OsString;
use std::path::PathBuf;

use super::args::{Cli, Cmd, StatusArgs};

/// `args` (without the program's name) read as clap would, when they are a plain
/// `status` call: `[-f FILE | --file FILE] status [--json] [--file FILE] [NAME…]`.
pub(crate) fn status(args: &[OsString]) -> Option<Cli> {
    let mut file: Option<PathBuf> = None;
    let mut file_short: Option<PathBuf> = None;
    let mut rest = args.iter();
    // Before the verb: the global `--file` and the short `-f`.
    loop {
        let a = rest.next()?;
        match a.to_str()? {
            "status" => break,
            "--file" if file.is_none() && file_short.is_none() => file = Some(value(rest.next())?),
            "-f" if file.is_none() && file_short.is_none() => {
                file_short = Some(value(rest.next())?)
            }
            s => {
                let v = s.strip_prefix("--file=")?;
                if file.is_some() || file_short.is_some() || v.is_empty() {
                    return None;
                }
                file = Some(v.into());
            }
        }
    }
    let mut json = false;
    let mut services = Vec::new();
    while let Some(a) = rest.next() {
        match a.to_str()? {
            "--json" if !json => json = true,
            // `--file` is global: it may follow the verb, but not with `-f` before it.
            "--file" if file.is_none() && file_short.is_none() => file = Some(value(rest.next())?),
            // Other flags, `--`, and anything clap would judge go to clap.
            s if s.is_empty() || s.starts_with('-') => return None,
            s => services.push(s.to_string()),
        }
    }
    Some(Cli {
        file,
        file_short,
        command: Cmd::Status(StatusArgs {
            services,
            json,
            all_backends: false,
        }),
    })
}

/// An option's value, when clap would take it as one without a second look.
fn value(a: Option<&OsString>) -> Option<PathBuf> {
    let v = a?.to_str()?;
    (!v.is_empty() && !v.starts_with('-')).then(|| v.into())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The quick reading of a `status` call is what clap makes of it; anything else is
    /// left to clap.
    #[test]
    fn a_plain_status_call_reads_as_clap_reads_it() {
        for argv in [
            vec!["status"],
            vec!["status", "--json"],
            vec!["status", "web", "db"],
            vec!["status", "web.1", "--json"],
            vec!["--file", "x.toml", "status"],
            vec!["--file=x.toml", "status", "--json"],
            vec!["-f", "x.toml", "status", "web"],
            vec!["status", "--file", "x.toml", "--json"],
            vec!["status", "web", "--file", "dir/x.toml"],
        ] {
            let os: Vec<OsString> = argv.iter().map(Into::into).collect();
            let quick = status(&os).unwrap_or_else(|| panic!("{argv:?} read quickly"));
            let clap = Cli::try_parse_from(std::iter::once("proctor").chain(argv.iter().copied()))
                .expect("clap reads it");
            assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "{argv:?}");
        }
        for argv in [
            vec!["status", "--all-backends", "web"],
            vec!["status", "--json", "--json"],
            vec!["status", "-h"],
            vec!["status", "--", "web"],
            vec!["--file", "status"],
            vec!["--file", "-x", "status"],
            vec!["--file=", "status"],
            vec!["--file", "a", "--file", "b", "status"],
            vec!["--file", "a", "status", "--file", "b"],
            vec!["-f", "a", "status", "--file", "b"],
            vec!["-f", "a", "--file", "b", "status"],
            vec!["status", "-f", "a"],
            vec!["status", "--file=a"],
            vec!["--json", "status"],
            vec!["stop", "web"],
            vec!["--file", "x.toml", "stop"],
            vec![],
        ] {
            let os: Vec<OsString> = argv.iter().map(Into::into).collect();
            assert!(status(&os).is_none(), "{argv:?}");
        }
    }
}
