//! The `graph-ig` command: dataset-wide attribution sweeps written as safetensors,
//! and the tools around them.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
