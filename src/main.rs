//! The `millrace` binary: parses the command line and hands off to `cli`.

fn main() {
    let code = millrace::cli::main();
    std::process::exit(code);
}
