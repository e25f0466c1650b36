//! The `proctor` command; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    // Supervises a daemon embedded with `Supervisor::Process`, when started for that.
    proctor::daemon::serve_if_requested();
    proctor::cli::main()
}
