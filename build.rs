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
    // The unwinder linked in (libgcc_eh, as `gcc -static-libgcc` does) rather than loaded:
    // libgcc_s.so.1 cost every CLI call its mapping, symbol lookups and a constructor that
    // runs `cpuid` (a VM exit each, on virtual machines). std asks for `-lgcc_s`; a linker
    // script of that name, found first, answers with the static unwinder.
    if os == "linux" && env == "gnu" && std::env::var_os("PROCTOR_DYNAMIC_LIBGCC").is_none() {
        if let Some(out) = std::env::var_os("OUT_DIR") {
            let dir = std::path::Path::new(&out).join("static-libgcc");
            if std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").is_ok()
            {
                println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
            }
        }
    }
    println!("cargo:rerun-if-env-changed=PROCTOR_DYNAMIC_LIBGCC");
}
