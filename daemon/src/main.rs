//! `facegate`: the Facegate daemon.

mod api;
mod config;
mod server;
mod store;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    version,
    about = "Face-recognition door-access daemon with a SmartFace-compatible REST API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API until SIGINT or SIGTERM.
    Serve {
        /// Config file; options it omits keep their defaults
        /// (see config/facegate.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Address and port to listen on, e.g. 127.0.0.1:8098.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
        /// Directory of the database.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
        } => config::Config::load(config.as_deref()).and_then(|mut config| {
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            if let Some(data_dir) = data_dir {
                config.storage.data_dir = data_dir;
            }
            init_logging(config.log.level);
            server::serve(config)
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("facegate: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at the configured level; RUST_LOG, when set, wins.
fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .init();
}
