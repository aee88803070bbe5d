//! The `sluice` command: `run` the daemon, `check` a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Configured plugins are loaded and checked against the plugin interface.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Work with transform plugins.
    Transform {
        #[command(subcommand)]
        command: TransformCommand,
    },
}

#[derive(Subcommand)]
enum TransformCommand {
    /// Run a plugin, or a chain of them, on sample records and print each result,
    /// like a local Lambda invoke.
    Test {
        /// The plugin component (.wasm); repeat it for a chain, which runs in the
        /// order given, as a stream's processors do.
        #[arg(long = "module", required = true)]
        modules: Vec<PathBuf>,
        /// Sample records: one per line (NDJSON), the newline kept.
        #[arg(long)]
        input: PathBuf,
        /// A parameter for a plugin's init (repeatable): `KEY=VALUE` with one
        /// module, `N:KEY=VALUE` for the Nth module of a chain (from 1).
        #[arg(long = "params", value_name = "[N:]KEY=VALUE")]
        params: Vec<String>,
        /// Records per call.
        #[arg(long, default_value_t = 500)]
        batch_records: usize,
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        #[arg(long, default_value_t = 128)]
        memory_mb: u64,
        /// Cache compiled components in this folder (compiled every time without it).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

/// Object buffers (1–128 MiB) and encoded bodies come and go all the time. glibc
/// raises its mmap threshold after the first large free, so they then come from
/// per-thread arenas that each keep their own peak. In `sluice-bench` that took peak
/// RSS to 151 MB; a fixed 1 MiB threshold returns them to the OS on free: 120 MB for
/// 3% less throughput (256 KiB gave 89 MB but 10% less: request bodies churn too
/// fast to pay an mmap each).
///
/// Smaller allocations come from arenas, each keeping what was freed in it. With
/// one per thread (up to 8 per core), a burst of requests of tiny lines
/// (`benches/ingest-memory.sh`) peaked at 277 MB and idled at 29 MB; two arenas
/// gave 120 MB and 15 MB. One arena: `sluice-bench` PutRecordBatch at gzip level 6
/// peaked at 111.5 MB against 132.3 MB with two (level 3: 113.0 against 130.1;
/// level 1: 105.3 against 125.8), at the same throughput within the runs' noise
/// (level 1: 3.8% less). (mimalloc in glibc's place did worse here: 239 MB peak,
/// 64 MB idle.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_os() {
    const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;
    const ARENAS: libc::c_int = 1;
    // SAFETY: mallopt only changes allocator tuning; it is called before any thread
    // starts, and a failure (return 0) leaves the default behaviour in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_os() {}

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(sluice::log_filter::from_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Transform {
            command:
                TransformCommand::Test {
                    modules,
                    input,
                    params,
                    batch_records,
                    timeout_ms,
                    memory_mb,
                    cache_dir,
                },
        } => {
            let params =
                match sluice::transform::local_invoke::assign_params(modules.len(), &params) {
                    Ok(params) => params,
                    Err(e) => {
                        eprintln!("--params {e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                };
            let invocation = sluice::transform::local_invoke::Invocation {
                modules,
                input,
                params,
                batch_records,
                timeout_ms,
                memory_mb,
                cache_dir,
            };
            match sluice::transform::local_invoke::invoke(
                &invocation,
                &mut std::io::stdout().lock(),
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { config } => match sluice::config::load(config.as_deref())
            .and_then(|c| sluice::transform::check_plugins(&c).map(|()| c))
        {
            Ok(c) => {
                println!(
                    "configuration is valid: {} delivery stream(s): {}",
                    c.delivery_streams.len(),
                    c.stream_names()
                );
                for stream in &c.delivery_streams {
                    if let Some(order) = sluice::processors::run_order(&stream.processors) {
                        println!(
                            "note: stream `{}` lists its processors in another order than they run in; they run in Firehose's order: {order}",
                            stream.name
                        );
                    }
                }
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Run { config: path } => {
            let config = match sluice::config::load(path.as_deref()) {
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
            let outcome = runtime.block_on(sluice::daemon::run(path, config));
            // Everything the daemon promised is done once `run` returns; what
            // may still sit in the blocking pool is a read of standard input
            // that cannot be cancelled (a pipe whose writer stays open), which
            // dropping the runtime would wait on for ever.
            runtime.shutdown_background();
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "sluice stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
