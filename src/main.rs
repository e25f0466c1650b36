//! The `proctor` command; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    proctor::cli::main()
}
