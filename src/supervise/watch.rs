//! `watch`: restarting a service when its files change.
//!
//! Each watched service that is wanted up holds one inotify watcher (the `notify` crate's
//! backend, a thread blocked in the kernel: nothing polls). The watcher's thread matches
//! each change against the service's paths, its `ignore` lines and the project's
//! `.gitignore` files, and sends only the changes that count into the loop. The loop
//! debounces with a deadline: the restart is due `debounce` after the last change, so a
//! save that writes ten files costs one restart. The watcher goes when the service is
//! stopped or forgotten, and is made anew when its `watch` changes on a reload.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::gitignore::Gitignore;
use notify::Watcher as _;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::driver::Driver;
use super::machine::Input;
use crate::spec::watch::{glob_for, is_glob, root_of};
use crate::spec::Watch;

/// Tells apart the watchers a service had: a message from a dropped one is stale.
static NEXT_GEN: AtomicU64 = AtomicU64::new(1);

/// A change that counts, from watcher `gen` of service `unit`.
pub(super) struct Changed {
    unit: usize,
    gen: u64,
    path: PathBuf,
}

/// A service's live watcher.
pub(super) struct FileWatch {
    /// Dropping it stops the watcher's thread and its inotify instance.
    _watcher: notify::RecommendedWatcher,
    gen: u64,
    /// What it was made from, to tell a reload's change.
    def: Watch,
    /// When the restart is due: `debounce` after the last change that counted.
    pub(super) due: Option<Instant>,
    /// The first path of the pending burst, for the log's note.
    first: Option<PathBuf>,
}

/// What one watched path stands for.
enum Entry {
    /// The path itself and everything below it.
    Under(PathBuf),
    /// What a glob matches.
    Glob(globset::GlobMatcher),
}

/// Which changes count: under a watched path, and ignored neither by `ignore` nor by a
/// `.gitignore`.
struct Matcher {
    entries: Vec<Entry>,
    /// The directory each watched path is found under (see `root_of`).
    roots: Vec<PathBuf>,
    /// The service's `ignore` lines, anchored at its `cwd`.
    ignore: Gitignore,
    /// `.gitignore` files from the service's `cwd` up to its repository's root, and at the
    /// top of each watched directory; each speaks for what is below it.
    gitignores: Vec<Gitignore>,
}

impl Matcher {
    fn new(w: &Watch, cwd: &Path) -> Self {
        let entries = w
            .paths
            .iter()
            .filter_map(|p| {
                if is_glob(&p.to_string_lossy()) {
                    glob_for(p).ok().map(Entry::Glob)
                } else {
                    Some(Entry::Under(p.clone()))
                }
            })
            .collect();
        let mut b = ignore::gitignore::GitignoreBuilder::new(cwd);
        for line in &w.ignore {
            // Checked when the spec was read.
            let _ = b.add_line(None, line);
        }
        let ignore = b.build().unwrap_or_else(|_| Gitignore::empty());
        let mut dirs = repo_dirs(cwd);
        for p in &w.paths {
            let root = root_of(p);
            if root.is_dir() && !dirs.contains(&root) {
                dirs.push(root);
            }
        }
        let gitignores = dirs
            .iter()
            .map(|d| d.join(".gitignore"))
            .filter(|f| f.is_file())
            .map(|f| Gitignore::new(f).0)
            .collect();
        Self {
            entries,
            roots: w.paths.iter().map(|p| root_of(p)).collect(),
            ignore,
            gitignores,
        }
    }

    fn counts(&self, path: &Path) -> bool {
        if path.components().any(|c| c.as_os_str() == ".git") {
            return false;
        }
        let watched = self.entries.iter().any(|e| match e {
            Entry::Under(p) => path.starts_with(p),
            Entry::Glob(g) => g.is_match(path),
        });
        if !watched {
            return false;
        }
        let is_dir = path.is_dir();
        // Outside the cwd (`paths = ["../lib"]`) the lines still apply below the watched
        // directory: `target` and `*.tmp` are not anchored anywhere.
        let outside = !path.starts_with(self.ignore.path())
            && self.roots.iter().any(|r| {
                path.strip_prefix(r).is_ok_and(|rel| {
                    !rel.as_os_str().is_empty()
                        && self
                            .ignore
                            .matched_path_or_any_parents(rel, is_dir)
                            .is_ignore()
                })
            });
        !outside
            && !std::iter::once(&self.ignore)
                .chain(&self.gitignores)
                .any(|g| {
                    path.starts_with(g.path())
                        && g.matched_path_or_any_parents(path, is_dir).is_ignore()
                })
    }
}

/// `cwd` and its parents up to the one holding `.git`; only `cwd` outside a repository.
fn repo_dirs(cwd: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in cwd.ancestors() {
        out.push(d.to_path_buf());
        if d.join(".git").exists() {
            return out;
        }
    }
    out.truncate(1);
    out
}

/// Whether an event is a change (not a read, nor a close after reading).
fn is_change(kind: notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// Starts watching `w` for service `unit`; changes that count arrive on `tx`.
fn start(
    unit: usize,
    name: &str,
    w: &Watch,
    cwd: &Path,
    tx: mpsc::UnboundedSender<Changed>,
) -> notify::Result<FileWatch> {
    let gen = NEXT_GEN.fetch_add(1, Ordering::Relaxed);
    let matcher = Matcher::new(w, cwd);
    let service = name.to_string();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        match ev {
            Ok(ev) if is_change(ev.kind) => {
                if let Some(path) = ev.paths.into_iter().find(|p| matcher.counts(p)) {
                    // The loop is gone only at exit.
                    let _ = tx.send(Changed { unit, gen, path });
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(service = %service, "watch: {e}"),
        }
    })?;
    for p in &w.paths {
        let root = root_of(p);
        // A path that does not exist yet is watched for from the nearest directory that
        // does: its creation counts.
        let (at, mode) = match root.ancestors().find(|a| a.exists()) {
            Some(a) if a == root && root.is_dir() => (a, notify::RecursiveMode::Recursive),
            Some(a) if a == root => match root.parent() {
                Some(parent) => (parent, notify::RecursiveMode::NonRecursive),
                None => (a, notify::RecursiveMode::NonRecursive),
            },
            Some(a) => (a, notify::RecursiveMode::NonRecursive),
            None => continue,
        };
        watcher.watch(at, mode)?;
    }
    Ok(FileWatch {
        _watcher: watcher,
        gen,
        def: w.clone(),
        due: None,
        first: None,
    })
}

impl Driver {
    /// Gives service `i` a watcher while it is wanted up and has a `watch`, and takes it
    /// away otherwise.
    pub(super) fn sync_watch(&mut self, i: usize) {
        let want = !self.slots[i].removed && self.machine.units()[i].want_up;
        let def = self.spec.services[i].watch.clone().filter(|_| want);
        let Some(def) = def else {
            self.slots[i].watch = None;
            return;
        };
        if self.slots[i].watch.as_ref().is_some_and(|w| w.def == def) {
            return;
        }
        let svc = &self.spec.services[i];
        match start(i, &svc.name, &def, &svc.cwd, self.watch_tx.clone()) {
            Ok(w) => self.slots[i].watch = Some(w),
            Err(e) => {
                let msg = format!("cannot watch {}: {e}", describe(&def.paths));
                tracing::warn!(service = %svc.name, "{msg}");
                self.slots[i].sink.borrow_mut().note(&msg);
                self.slots[i].watch = None;
            }
        }
    }

    /// A change that counts: the restart is due `debounce` from now.
    pub(super) fn on_watched(&mut self, c: Changed) {
        let Changed { unit, gen, path } = c;
        if let Some(w) = self.slots[unit].watch.as_mut().filter(|w| w.gen == gen) {
            w.due = Some(Instant::now() + w.def.debounce);
            w.first.get_or_insert(path);
        }
    }

    /// The earliest debounced restart.
    pub(super) fn watch_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.watch.as_ref().and_then(|w| w.due))
            .min()
    }

    /// Restarts the services whose debounce is over, with the dependents that need them.
    pub(super) fn fire_watches(&mut self, now: Instant) {
        let mut inputs = Vec::new();
        for i in 0..self.slots.len() {
            let Some(w) = self.slots[i].watch.as_mut() else {
                continue;
            };
            if w.due.is_none_or(|d| d > now) {
                continue;
            }
            w.due = None;
            let first = w.first.take();
            let closure = self.machine.restart_closure(i);
            let mut msg = match &first {
                Some(p) => format!("{} changed: restarting", p.display()),
                None => "watched files changed: restarting".to_string(),
            };
            let names: Vec<&str> = closure[1..]
                .iter()
                .map(|&j| self.spec.services[j].name.as_str())
                .collect();
            if !names.is_empty() {
                msg.push_str(&format!(" (with {})", names.join(", ")));
            }
            tracing::info!(service = %self.spec.services[i].name, "{msg}");
            self.slots[i].sink.borrow_mut().note(&msg);
            for j in closure {
                if !inputs
                    .iter()
                    .any(|x| matches!(x, Input::Restart(k) if *k == j))
                {
                    inputs.push(Input::Restart(j));
                }
            }
        }
        if !inputs.is_empty() {
            self.apply_all(inputs);
        }
    }
}

fn describe(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_follows_paths_ignore_lines_and_gitignore_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let app = root.join("app");
        std::fs::create_dir_all(app.join("src/gen")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        // The repository's .gitignore, above the service's cwd, speaks for it too.
        std::fs::write(root.join(".gitignore"), "*.log\n").expect("write");
        std::fs::write(app.join("src/.gitignore"), "gen/\n").expect("write");
        let mut w = Watch::new(vec![app.join("src"), app.join("config/*.toml")]);
        w.ignore = vec!["target".into(), "*.tmp".into(), "!keep.tmp".into()];
        let m = Matcher::new(&w, &app);
        let counts = |rel: &str| m.counts(&app.join(rel));
        assert!(counts("src/main.rs"));
        assert!(counts("src/deep/er/mod.rs"));
        assert!(counts("config/app.toml"));
        assert!(counts("src/keep.tmp"), "whitelisted by !keep.tmp");
        assert!(!counts("config/app.toml.bak"));
        assert!(!counts("config/sub/app.toml"), "* stays in one directory");
        assert!(!counts("README.md"), "not watched");
        assert!(!counts("src/scratch.tmp"), "ignore line");
        assert!(!counts("src/target/x.rs"), "ignore line, any depth");
        assert!(!counts("src/run.log"), "the repository's .gitignore");
        assert!(!counts("src/gen/x.rs"), "src/.gitignore");
        assert!(!counts("src/.git/index"), "git's own files");
    }

    #[test]
    fn ignore_lines_apply_to_paths_outside_the_cwd_too() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let app = tmp.path().join("app");
        let lib = tmp.path().join("lib");
        std::fs::create_dir_all(&app).expect("mkdir");
        std::fs::create_dir_all(lib.join("target")).expect("mkdir");
        let mut w = Watch::new(vec![app.join("../lib"), lib.clone()]);
        w.ignore = vec!["target".into(), "*.tmp".into()];
        let m = Matcher::new(&w, &app);
        assert!(m.counts(&lib.join("src.rs")));
        assert!(!m.counts(&lib.join("scratch.tmp")), "*.tmp anywhere");
        assert!(!m.counts(&lib.join("target/x.rs")), "target anywhere");
        assert!(
            !m.counts(&app.join("../lib/scratch.tmp")),
            "through `..` as well"
        );
    }

    #[test]
    fn reads_are_not_changes() {
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
        use notify::EventKind;
        assert!(!is_change(EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(EventKind::Create(CreateKind::File)));
        assert!(is_change(EventKind::Modify(ModifyKind::Any)));
    }
}
