//! The `millrace` binary: parses the command line and hands off to `cli`.

/// The daemon allocates many small, short-lived values per stage (JSON
/// documents, paths, event lines); mimalloc serves those with less work
/// than the C library's allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
