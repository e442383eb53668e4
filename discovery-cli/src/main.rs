//! `discovery`: resolve or watch a headless Service, or run the demo.
//!
//! Exit codes: 0 success, 1 resolution failure (one line on stderr), 2 usage error.

#![forbid(unsafe_code)]

mod args;
mod cmd;
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
            Command::Resolve(target) => cmd::resolve::run(target).await.map_err(|e| e.to_string()),
            Command::Watch(target) => cmd::watch::run(target).await.map_err(|e| e.to_string()),
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Redis(args::RedisCommand::Topology(args)) => cmd::redis::topology(args).await,
            Command::Mysql(args::MySqlCommand::Topology(args)) => cmd::mysql::topology(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("discovery: {reason}");
            ExitCode::FAILURE
        }
    }
}
