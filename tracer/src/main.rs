//! The `tracer` command: a thin shell over [`tracer::cli`].

fn main() -> std::process::ExitCode {
    tracer::cli::main()
}
