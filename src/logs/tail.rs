//! Reading the end of a service's log, across rotated files, without reading it all.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::record::{parse_record, Record};

/// The files of a service's log, newest first: `NAME.log`, `NAME.log.1`, ….
pub fn log_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let base = dir.join(format!("{name}.log"));
    let mut out = Vec::new();
    if base.exists() {
        out.push(base.clone());
    }
    for n in 1.. {
        let p = PathBuf::from(format!("{}.{n}", base.display()));
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out
}

/// The records (raw, without newline) holding the last `limit` lines of a service that
/// `keep` accepts, oldest first, and only those at or after `since` when given. A line split
/// into pieces counts once, and all its pieces are returned.
pub fn tail(
    dir: &Path,
    name: &str,
    limit: usize,
    since: Option<SystemTime>,
    keep: impl Fn(&Record<'_>) -> bool,
) -> std::io::Result<Vec<Vec<u8>>> {
    let mut newest_first: Vec<Vec<u8>> = Vec::new();
    let mut lines = 0usize;
    if limit == 0 {
        return Ok(newest_first);
    }
    'files: for path in log_files(dir, name) {
        // A link planted in the state directory is not followed, for reading either.
        let mut file = match crate::sys::fs::open_nofollow(File::options().read(true), &path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut end = file.seek(SeekFrom::End(0))?;
        let mut partial: Vec<u8> = Vec::new();
        const BLOCK: u64 = 64 * 1024;
        while end > 0 {
            let start = end.saturating_sub(BLOCK);
            let mut block = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut block)?;
            block.extend_from_slice(&partial);
            // The first piece may be a partial record continued from the previous block.
            let mut pieces: Vec<&[u8]> = block.split(|b| *b == b'\n').collect();
            let head = if start > 0 {
                pieces.remove(0).to_vec()
            } else {
                Vec::new()
            };
            for piece in pieces.into_iter().rev() {
                if piece.is_empty() {
                    continue;
                }
                let Some(rec) = parse_record(piece) else {
                    continue;
                };
                if since.is_some_and(|since| rec.time < since) {
                    break 'files;
                }
                if !keep(&rec) {
                    continue;
                }
                if !rec.continued {
                    // Stop at the end of a line beyond the limit, so that the pieces of
                    // the oldest line returned are all in.
                    if lines == limit {
                        break 'files;
                    }
                    lines += 1;
                }
                newest_first.push(piece.to_vec());
            }
            partial = head;
            end = start;
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_across_rotated_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rec = |i: u32| format!("2026-01-01T00:00:{:02}.000000Z out line {i}\n", i % 60);
        let older: String = (0..5).map(rec).collect();
        let newer: String = (5..8).map(rec).collect();
        std::fs::write(dir.path().join("svc.log.1"), older).expect("write");
        std::fs::write(dir.path().join("svc.log"), newer).expect("write");
        let got = tail(dir.path(), "svc", 4, None, |_| true).expect("tail");
        let lines: Vec<String> = got
            .iter()
            .map(|r| {
                String::from_utf8_lossy(r)
                    .rsplit(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(lines, vec!["4", "5", "6", "7"]);
        let since = humantime::parse_rfc3339("2026-01-01T00:00:06Z").expect("time");
        assert_eq!(
            tail(dir.path(), "svc", 100, Some(since), |_| true)
                .expect("tail")
                .len(),
            2
        );
    }
}
