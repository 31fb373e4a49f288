//! The light build of `cargo xtask` (no AWS SDK); see `lib.rs`.

fn main() -> std::process::ExitCode {
    xtask::main()
}
