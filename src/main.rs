fn main() {
    // Rust ignores SIGPIPE, so writing to a closed pipe (`tokwatch report | head`) would panic;
    // a command-line tool should just stop, as `cat` does.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(tokwatch::cli::main());
}
