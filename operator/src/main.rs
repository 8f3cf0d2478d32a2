//! `wasm-operator`: parse the command line and hand each subcommand to its module (`cli/`).

use clap::{CommandFactory, FromArgMatches};
use std::future::Future;
use std::process::ExitCode;
use wasm_operator::cli::{self, Cli, Command};

/// One allocator in every build, with the image's settings (`allocator.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run an async command; `no_runtime` is its exit code when there is no async runtime.
fn block_on(command: impl Future<Output = ExitCode>, no_runtime: ExitCode) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(command),
        Err(e) => {
            eprintln!("wasm-operator: cannot start the async runtime: {e}");
            no_runtime
        }
    }
}

fn main() -> ExitCode {
    wasm_operator::allocator::ensure_settings();
    // Installed as `kubectl-wasm`, it is `kubectl wasm` in help and errors.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let command = Cli::command().bin_name(wasm_operator::plugin_name::program_name(&argv0));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let cluster = &cli.cluster;
    match cli.command {
        Command::Crd => cli::crd::crd(),
        Command::Compare(args) => block_on(cli::compare::compare(args, cluster), ExitCode::FAILURE),
        Command::Report(args) => block_on(cli::report::report(args, cluster), ExitCode::FAILURE),
        // Doctor's exit 2: it could not look at the cluster at all.
        Command::Doctor(args) => block_on(cli::doctor::doctor(args, cluster), ExitCode::from(2)),
        Command::Run(args) => block_on(
            async {
                match cli::run::run(args, cluster).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(message) => {
                        eprintln!("{message}");
                        ExitCode::FAILURE
                    }
                }
            },
            ExitCode::FAILURE,
        ),
    }
}
