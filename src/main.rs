//! The `millrace` binary: parses the command line and hands off to `cli`.

fn main() {
    // Behave like other command-line tools when the reader goes away
    // (`millrace lint | head -1`): end quietly instead of panicking on EPIPE.
    // SAFETY: restoring the default action of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = millrace::cli::main();
    std::process::exit(code);
}
