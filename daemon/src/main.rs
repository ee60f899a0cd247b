//! `facegate`: the Facegate daemon.

mod api;
mod bench;
mod config;
mod score;
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
    /// Measure the face engine.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
    /// Verification accuracy on LFW: the standard protocol over the folds
    /// of a pairs file (e.g. shared/data/lfw-dev).
    Lfw {
        /// The LFW image folder (NAME/NAME_0001.jpg).
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// The pairs file (pairs.txt format).
        #[arg(long, value_name = "FILE")]
        pairs: PathBuf,
        /// Config file for the [engine] settings.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Add each face's mirror image to its template.
        #[arg(long)]
        flip: bool,
    },
    /// Calibrate the match score: FAR and TAR of each score threshold over
    /// all cross-identity and same-identity pairs of an LFW-style folder.
    Calibrate {
        /// The image folder (NAME/NAME_0001.jpg).
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// Also write the FAR/TAR curves as an SVG plot.
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// Config file for the [engine] settings.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Steadiness of the attribute estimates under mirroring and across a
    /// person's photos, on an LFW-style folder.
    Attributes {
        /// The image folder (NAME/NAME_0001.jpg).
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// How many people (folders, by name) to use.
        #[arg(long, default_value_t = 300)]
        people: usize,
        /// Config file for the [engine] settings.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
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
        Command::Bench(Bench::Lfw {
            images,
            pairs,
            config,
            flip,
        }) => config::Config::load(config.as_deref()).and_then(|config| {
            init_logging(config.log.level);
            bench_lfw(&config.engine, &images, &pairs, flip)
        }),
        Command::Bench(Bench::Calibrate {
            images,
            plot,
            config,
        }) => config::Config::load(config.as_deref()).and_then(|config| {
            init_logging(config.log.level);
            let engine = load_engine(&config.engine.engine_config())?;
            let report = bench::calibrate::run(
                &engine,
                &images,
                config.engine.max_image_pixels,
                plot.as_deref(),
            )?;
            println!("{report}");
            Ok(())
        }),
        Command::Bench(Bench::Attributes {
            images,
            people,
            config,
        }) => config::Config::load(config.as_deref()).and_then(|config| {
            init_logging(config.log.level);
            let engine = load_engine(&config.engine.engine_config())?;
            let report =
                bench::attributes::run(&engine, &images, people, config.engine.max_image_pixels)?;
            println!("{report}");
            Ok(())
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

fn bench_lfw(
    settings: &config::EngineSettings,
    images: &std::path::Path,
    pairs: &std::path::Path,
    flip: bool,
) -> Result<(), String> {
    let text = std::fs::read_to_string(pairs).map_err(|e| format!("{}: {e}", pairs.display()))?;
    let pairs = bench::lfw::parse_pairs(&text)?;
    let mut engine_config = settings.engine_config();
    engine_config.flip_templates |= flip;
    let engine = load_engine(&engine_config)?;
    let report = bench::lfw::run(&engine, images, &pairs, settings.max_image_pixels)?;
    println!("{report}");
    Ok(())
}

fn load_engine(
    config: &facegate_models::EngineConfig,
) -> Result<facegate_models::FaceEngine, String> {
    facegate_models::FaceEngine::load(config).map_err(|e| e.to_string())
}

/// Logs to stderr at the configured level; RUST_LOG, when set, wins.
fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .init();
}
