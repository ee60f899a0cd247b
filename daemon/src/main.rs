//! `facegate`: the Facegate daemon.

mod api;
mod bench;
mod catalog;
mod config;
mod console;
mod core;
mod descriptors;
mod edge;
mod gallery;
mod graphql;
mod grpc;
mod memory;
mod migration;
mod osdp;
mod score;
mod server;
mod site;
mod store;
mod wiegand;

use clap::{Parser, Subcommand, ValueEnum};
use config::Config;
use facegate_models::{Precision, Precisions, TemplateModel};
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
        /// Address and port of the access-notification gRPC stream, or ""
        /// for none.
        #[arg(long, value_name = "ADDR:PORT")]
        grpc_listen: Option<String>,
        /// Address and port of the GraphQL API, or "" for none.
        #[arg(long, value_name = "ADDR:PORT")]
        graphql_listen: Option<String>,
        /// Directory of the database.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Run the door loop with this camera: v4l:/dev/video0,
        /// rtsp://USER:PASSWORD@HOST:554/PATH or replay:DIR[@FPS].
        #[arg(long, value_name = "SPEC")]
        camera: Option<String>,
        /// Run the door loop with this relay: serial:PATH[@BAUD] or fake.
        #[arg(long, value_name = "SPEC")]
        relay: Option<String>,
        /// Join an access-control panel as its OSDP reader on this RS-485
        /// port: serial:PATH[@BAUD] (default 9600 baud).
        #[arg(long, value_name = "SPEC")]
        osdp: Option<String>,
    },
    /// Measure the face engine on LFW-style folders (NAME/NAME_0001.jpg),
    /// e.g. shared/data/lfw-dev.
    Bench {
        /// Config file for the [engine] settings.
        #[arg(long, value_name = "PATH", global = true)]
        config: Option<PathBuf>,
        /// Run every network in this precision (fp32 or int8), whatever
        /// the config says.
        #[arg(long, value_name = "PRECISION", global = true, value_parser = ["fp32", "int8"])]
        precision: Option<String>,
        #[command(subcommand)]
        what: BenchKind,
    },
}

/// A half of the people of `bench identify`'s split.
#[derive(Clone, Copy, ValueEnum)]
enum SplitPart {
    Tuning,
    Report,
}

impl SplitPart {
    fn part(self) -> bench::open_set::Part {
        match self {
            SplitPart::Tuning => bench::open_set::Part::Tuning,
            SplitPart::Report => bench::open_set::Part::Report,
        }
    }
}

#[derive(Subcommand)]
enum BenchKind {
    /// Verification accuracy with the standard protocol over the folds of a
    /// pairs file.
    Lfw {
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// The pairs file (pairs.txt format).
        #[arg(long, value_name = "FILE")]
        pairs: PathBuf,
        /// Add each face's mirror image to its template.
        #[arg(long)]
        flip: bool,
    },
    /// Calibrate the match score: FAR and TAR of each score threshold over
    /// all cross-identity and same-identity pairs.
    Calibrate {
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// Also write the FAR/TAR curves as an SVG plot.
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// Only the people of one part of `identify`'s split: tune on
        /// `tuning`, report on `report`.
        #[arg(long, value_enum)]
        part: Option<SplitPart>,
        /// Calibrate the template model of this manifest instead (the
        /// config's template model otherwise) and write its
        /// `[calibration]` into it (docs/ENGINE.md).
        #[arg(long, value_name = "MANIFEST")]
        into: Option<PathBuf>,
    },
    /// Open-set 1:N identification: members found and strangers matched,
    /// with thresholds tuned on one half of the people and reported on the
    /// other, and an ablation of enrolment, normalisation and quality gates.
    Identify {
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// Also write the DET curves (FNIR against FPIR) as an SVG plot.
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
    },
    /// The door loop itself with a gallery of N on the report part of
    /// `identify`'s split: members and strangers walk up one after another
    /// in front of a paced camera, each open counted against who was in
    /// view. Liveness is off (LFW photos are photos of photos); the other
    /// [edge] rules are the config's.
    Door {
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        #[arg(long, default_value_t = 1000)]
        gallery: usize,
        /// Strangers who walk up, at most.
        #[arg(long, default_value_t = 300)]
        strangers: usize,
        /// The camera's frame rate.
        #[arg(long, default_value_t = 10)]
        fps: u32,
        /// Frames each person is in view (5 at 10 fps: half a second).
        #[arg(long, default_value_t = 5)]
        frames_per_person: usize,
    },
    /// 1:N search speed over synthetic templates, and the cold start of the
    /// index from redb. Needs no images.
    Gallery {
        /// Gallery sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        sizes: Vec<usize>,
        /// Faces in the cold-start store (0 skips it).
        #[arg(long, default_value_t = 100_000)]
        cold_start: usize,
        /// Also write the search time against gallery size as an SVG plot.
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
    },
    /// What reading an IP camera costs: CPU per second of video, frames
    /// decoded and skipped against frames the loop takes.
    Rtsp {
        /// rtsp://USER:PASSWORD@HOST/PATH
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Milliseconds the loop spends on each picture it takes.
        #[arg(long, default_value_t = 0)]
        analysis_ms: u64,
        /// Packets over UDP rather than the RTSP connection.
        #[arg(long)]
        udp: bool,
    },
    /// The Wiegand output's timing (the [wiegand] section's), idle and on
    /// a loaded machine. With `wiegand.chip` set its lines are driven.
    Wiegand {
        #[arg(long, default_value_t = 300)]
        frames: usize,
        /// Busy threads while loaded; 0: two per core.
        #[arg(long, default_value_t = 0)]
        load_threads: usize,
        /// The card number sent.
        #[arg(long, default_value = "12345")]
        card: String,
    },
    /// Record every network's inputs on the tuning part's photos, for the
    /// int8 calibration (scripts/quantize.py calibrate).
    CalibrationInputs {
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// The directory to write NAME.f32 (raw float32 inputs) in.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How many photos (the first of each person, by name).
        #[arg(long, default_value_t = 200)]
        photos: usize,
    },
    /// Steadiness of the attribute estimates under mirroring and across a
    /// person's photos.
    Attributes {
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// How many people (folders, by name) to use.
        #[arg(long, default_value_t = 300)]
        people: usize,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            grpc_listen,
            graphql_listen,
            data_dir,
            camera,
            relay,
            osdp,
        } => {
            let data_dir = data_dir.map(|dir| {
                dir.to_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("--data-dir {} is not UTF-8", dir.display()))
            });
            // The flags are applied as a layer over the file, so that the
            // configuration the console shows is the one in force.
            let mut flags = Flags::default();
            flags.set("grpc", "listen", grpc_listen);
            flags.set("graphql", "listen", graphql_listen);
            flags.set("server", "listen", listen.map(|addr| addr.to_string()));
            let edge_enabled = (camera.is_some() || relay.is_some()).then_some(true);
            flags.set("edge", "camera", camera);
            flags.set("edge", "relay", relay);
            flags.set("edge", "enabled", edge_enabled);
            let osdp = osdp.map(|spec| osdp_port(&spec)).transpose();
            let osdp = osdp.map(|port| {
                if let Some((path, baud)) = port {
                    flags.set("osdp", "port", Some(path));
                    flags.set("osdp", "baud", Some(i64::from(baud)));
                }
            });
            osdp.and(data_dir.transpose()).and_then(|data_dir| {
                flags.set("storage", "data_dir", data_dir);
                let config = Config::load_with_flags(config.as_deref(), flags.0)?;
                init_logging(config.log.level);
                server::serve(config)
            })
        }
        Command::Bench {
            config,
            precision,
            what,
        } => Config::load(config.as_deref()).and_then(|mut config| {
            init_logging(config.log.level);
            if let Some(precision) = precision {
                config.engine.precision = Precisions::all(match precision.as_str() {
                    "int8" => Precision::Int8,
                    _ => Precision::Fp32,
                });
            }
            run_bench(&config, what)
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

/// Command-line flags as a config layer: `[section] key = value`.
/// `serial:PATH[@BAUD]` as the port and its speed.
fn osdp_port(spec: &str) -> Result<(String, u32), String> {
    let port = spec
        .strip_prefix("serial:")
        .ok_or_else(|| format!("--osdp {spec} is not serial:PATH[@BAUD]"))?;
    match port.rsplit_once('@') {
        Some((path, baud)) => baud
            .parse()
            .map(|baud| (path.to_string(), baud))
            .map_err(|_| format!("--osdp {spec}: bad baud rate")),
        None => Ok((port.to_string(), 9600)),
    }
}

#[derive(Default)]
struct Flags(toml::Table);

impl Flags {
    fn set(&mut self, section: &str, key: &str, value: Option<impl Into<toml::Value>>) {
        let Some(value) = value else { return };
        let section = self
            .0
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = section {
            section.insert(key.to_string(), value.into());
        }
    }
}

fn run_bench(config: &Config, what: BenchKind) -> Result<(), String> {
    let settings = &config.engine;
    let limits = settings.decode_limits();
    let engine = |flip: bool| {
        let mut config = settings.engine_config()?;
        config.flip_templates |= flip;
        facegate_models::FaceEngine::load(&config).map_err(|e| e.to_string())
    };
    let report = match what {
        BenchKind::Lfw {
            images,
            pairs,
            flip,
        } => {
            let text =
                std::fs::read_to_string(&pairs).map_err(|e| format!("{}: {e}", pairs.display()))?;
            let pairs = bench::protocol::parse_pairs(&text)?;
            bench::lfw::run(&engine(flip)?, &images, &pairs, limits)?.to_string()
        }
        BenchKind::Calibrate {
            images,
            plot,
            part,
            into,
        } => {
            let engine = match &into {
                Some(manifest) => {
                    let mut model = TemplateModel::load(manifest).map_err(|e| e.to_string())?;
                    model.calibration = Some(bench::calibrate::provisional());
                    let mut config = settings.engine_config()?;
                    config.template_model = Some(model);
                    facegate_models::FaceEngine::load(&config).map_err(|e| e.to_string())?
                }
                None => engine(false)?,
            };
            bench::calibrate::run(
                &engine,
                &images,
                limits,
                part.map(SplitPart::part),
                plot.as_deref(),
                into.as_deref(),
            )?
        }
        BenchKind::Identify { .. } if settings.precision.of("fr_feature") != Precision::Fp32 => {
            return Err(
                "bench identify scores fp32 templates only; run it with --precision fp32".into(),
            )
        }
        BenchKind::Identify { images, plot } => bench::identify::run(
            &engine(false)?,
            &engine(true)?,
            &images,
            limits,
            plot.as_deref(),
        )?,
        BenchKind::CalibrationInputs {
            images,
            out,
            photos,
        } => {
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            let mut config = settings.engine_config()?;
            config.record_inputs = Some(out);
            let engine = facegate_models::FaceEngine::load(&config).map_err(|e| e.to_string())?;
            bench::calibration_inputs::run(&engine, &images, photos, limits)?
        }
        BenchKind::Attributes { images, people } => {
            bench::attributes::run(&engine(false)?, &images, people, limits)?
        }
        BenchKind::Door {
            images,
            gallery,
            strangers,
            fps,
            frames_per_person,
        } => bench::door::run(
            config,
            &images,
            &bench::door::Settings {
                gallery,
                strangers,
                fps,
                frames_per_person,
            },
        )?,
        BenchKind::Gallery {
            sizes,
            cold_start,
            plot,
        } => bench::gallery::run(&sizes, cold_start, plot.as_deref())?,
        BenchKind::Rtsp {
            url,
            seconds,
            analysis_ms,
            udp,
        } => bench::rtsp::run(&bench::rtsp::Settings {
            url,
            seconds,
            analysis: std::time::Duration::from_millis(analysis_ms),
            transport: match udp {
                true => facegate_hal::RtspTransport::Udp,
                false => facegate_hal::RtspTransport::Tcp,
            },
        })?,
        BenchKind::Wiegand {
            frames,
            load_threads,
            card,
        } => bench::wiegand::run(
            &config.wiegand,
            &bench::wiegand::Settings {
                frames,
                load_threads,
                card,
            },
        )?,
    };
    println!("{report}");
    Ok(())
}

/// Logs to stderr at the configured level; RUST_LOG, when set, wins.
fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .init();
}
