fn main() {
    std::process::exit(tokwatch::cli::main());
}
