//! The `sluice` command: `run` the daemon, `check` a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Exit code for a configuration that does not load or validate.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Self-hosted delivery daemon that speaks the Amazon Data Firehose API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (on the built-in default configuration without --config).
    Run {
        /// Configuration file (.toml, .yaml or .yml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration and exit: 0 if valid, 2 with the problems if not.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Check { config } => match sluice::config::load(config.as_deref()) {
            Ok(c) => {
                println!(
                    "configuration is valid: {} delivery stream(s): {}",
                    c.delivery_streams.len(),
                    c.delivery_streams
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Run { config } => {
            let config = match sluice::config::load(config.as_deref()) {
                Ok(c) => c,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(sluice::daemon::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "sluice stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
