//! The full build of `cargo xtask`, with the commands that talk to AWS; the light build starts it.

fn main() -> std::process::ExitCode {
    xtask::main()
}
