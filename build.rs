//! Link options for the `proctor` binary only.
//!
//! Every CLI call (`status`, `wait`, a prompt's poll) is a fresh process, so what runs
//! before `main` is paid on every call. The binary is linked as `-C
//! target-feature=+crt-static` would link it, but by plain `cargo build`: that flag cannot
//! be given to the host's build without also breaking its proc-macro crates.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PROCTOR_NO_RELR");
    println!("cargo:rerun-if-env-changed=PROCTOR_DYNAMIC_LIBGCC");
    println!("cargo:rerun-if-env-changed=PROCTOR_DYNAMIC");
    println!("cargo:rerun-if-env-changed=CC");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    // The ~18,000 relative relocations applied at every start, packed (DT_RELR, glibc
    // 2.36+, binutils 2.38+): their table shrinks from ~400 KiB to a few KiB.
    if std::env::var_os("PROCTOR_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // The unwinder linked in (libgcc_eh): libgcc_s.so.1 cost every call its mapping,
    // symbol lookups and a constructor that runs `cpuid` (a VM exit each, in a VM).
    if std::env::var_os("PROCTOR_DYNAMIC_LIBGCC").is_some() {
        return;
    }
    let mut scripts = vec![("libgcc_s.so".to_string(), "INPUT(-lgcc_eh)\n".to_string())];
    // glibc linked in, as a static PIE (it keeps ASLR): no dynamic loader, no symbol
    // lookups, no libc.so to map — a third of the instructions of a `proctor status`.
    // Only where the C toolchain has the static archives (Debian's libc6-dev does);
    // `PROCTOR_DYNAMIC=1` builds the dynamically linked binary. The price is glibc's: a
    // name lookup (getaddrinfo, getpwuid_r) loads the NSS modules of the glibc it was
    // built with, so the binary belongs on the machine (or the distribution) it was built on.
    let libs = ["c", "m", "util", "rt", "pthread", "dl"];
    let static_libc = std::env::var_os("PROCTOR_DYNAMIC").is_none()
        && libs.iter().all(|l| has_archive(&format!("lib{l}.a")));
    if static_libc {
        scripts.push(("libc.so".into(), "GROUP(-l:libc.a -lgcc -lgcc_eh)\n".into()));
        for l in &libs[1..] {
            scripts.push((format!("lib{l}.so"), format!("INPUT(-l:lib{l}.a)\n")));
        }
    }
    // Linker scripts found before the system's libraries answer std's `-lgcc_s`, `-lc`…
    // with the static archives, as `-static-libgcc` and `crt-static` do.
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let dir = Path::new(&out).join("static-libs");
    // Afresh: a script left by an earlier build of another kind would still be found.
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err()
        || scripts
            .iter()
            .any(|(name, text)| std::fs::write(dir.join(name), text).is_err())
    {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    if static_libc {
        println!("cargo:rustc-link-arg-bins=-static-pie");
    }
}

/// Whether the C toolchain has the static archive `name`.
fn has_archive(name: &str) -> bool {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
    else {
        return false;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.is_absolute() && path.exists()
}
