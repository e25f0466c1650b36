//! Link options for the `proctor` binary only.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // Every CLI call is a fresh process whose dynamic loader first applies ~18,000
    // relative relocations; packed (DT_RELR, glibc 2.36+, binutils 2.38+) their table
    // shrinks from ~400 KiB to a few KiB that the loader reads at start.
    if os == "linux" && env == "gnu" && std::env::var_os("PROCTOR_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-env-changed=PROCTOR_NO_RELR");
}
