//! `discovery`: resolve or watch a headless Service, or run the demo.
//!
//! Exit codes: see [`exit`]: 0 success, 1 failure, 2 usage error, 3 nothing to use (no
//! ready pod, no master/primary). Every failure prints one line on stderr.

#![forbid(unsafe_code)]

mod args;
mod cmd;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DISCOVERY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("discovery: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Resolve(target) => cmd::resolve::run(target).await,
            Command::Watch(target) => cmd::watch::run(target).await,
            #[cfg(feature = "demo")]
            Command::Demo(args) => cmd::demo::run(args).await.map_err(exit::Failure::Failed),
            Command::Redis(args::RedisCommand::Topology(args)) => cmd::redis::topology(args).await,
            Command::Mysql(args::MySqlCommand::Topology(args)) => cmd::mysql::topology(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("discovery: {failure}");
            failure.code()
        }
    }
}
