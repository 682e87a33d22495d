// The parse workers allocate each request's event and the writer thread frees it: glibc's
// allocator then locks the worker's arena on every free (futex wake-ups in the profile of a
// cold Codex scan). mimalloc frees across threads without a lock.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc maps its arenas in large aligned pieces: on a kernel that backs anonymous memory
/// with transparent huge pages ("always"), each piece touched is a 2 MiB page, which doubled a
/// cold scan's peak RSS. Small pages for this process (as mimalloc's own `MIMALLOC_ALLOW_THP=0`
/// does, which the environment may still set either way). Run as a constructor, before the
/// runtime's first allocation: from `main` it came after it, and the kernel had already zeroed
/// a whole 2 MiB page for it (~8 % of a re-run that finds nothing new, for every process).
#[cfg(target_os = "linux")]
extern "C" fn small_pages() {
    // SAFETY: getenv reads the environment with a NUL-terminated name and allocates nothing;
    // prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory.
    unsafe {
        if libc::getenv(c"MIMALLOC_ALLOW_THP".as_ptr()).is_null() {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static SMALL_PAGES: extern "C" fn() = small_pages;

fn main() {
    // mimalloc gives freed pages back to the OS a second after they empty by default: a cold
    // scan frees on the writer thread what the parse workers allocated, so by then the workers
    // had taken fresh pages (peak RSS 101-108 MB against 73 MB with glibc on a 1 GB Claude
    // Code corpus). 10 ms keeps the peak at glibc's with no measurable time lost.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a global option (15 is `mi_option_purge_delay` in mimalloc 3, which the
        // crate does not name); it is read at each purge, so setting it now takes effect.
        unsafe { libmimalloc_sys::mi_option_set(15, 10) };
    }
    // Rust ignores SIGPIPE, so writing to a closed pipe (`tokwatch report | head`) would panic;
    // a command-line tool should just stop, as `cat` does.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists or any signal handler is
    // installed; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = tokwatch::cli::main();
    // mimalloc's exit handler collects and purges every heap and arena (`madvise` page by
    // page): work for a library unloaded from a process that goes on, not for a process about
    // to end, whose memory the kernel takes back whole. 2 makes the handler return at once
    // (`_mi_auto_process_done`); 22 is `mi_option_destroy_on_exit` in mimalloc 3.
    // SAFETY: sets a global option; no allocation runs after this but the exit path's own.
    unsafe { libmimalloc_sys::mi_option_set(22, 2) };
    std::process::exit(code);
}
