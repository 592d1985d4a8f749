//! The `candor` binary.

fn main() -> std::process::ExitCode {
    candor_server::cli::main()
}
