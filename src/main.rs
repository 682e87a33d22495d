fn main() {
    // Rust ignores SIGPIPE, so writing to a closed pipe (`tokwatch report | head`) would panic;
    // a command-line tool should just stop, as `cat` does.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists or any signal handler is
    // installed; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(tokwatch::cli::main());
}
