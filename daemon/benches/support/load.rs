//! Load generation shared by the REST benchmarks: requests from several
//! client threads, with per-request latency.
#![allow(dead_code)] // each bench uses a different part of this module

use std::time::{Duration, Instant};

pub struct Load {
    pub requests_per_second: f64,
    /// Sorted.
    pub latencies: Vec<Duration>,
}

impl Load {
    /// The latency at quantile `q` (0..1), in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies, q)
    }
}

/// The latency at quantile `q` (0..1) of `sorted`, in milliseconds.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at].as_secs_f64() * 1e3
}

/// Runs `requests` calls of `op` split over `clients` threads; `op` gets
/// the client index and the request index.
pub fn run(clients: usize, requests: usize, op: &(dyn Fn(usize, usize) + Sync)) -> Load {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    (client..requests)
                        .step_by(clients)
                        .map(|i| {
                            let t = Instant::now();
                            op(client, i);
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    latencies.sort();
    Load {
        requests_per_second: requests as f64 / elapsed.as_secs_f64(),
        latencies,
    }
}

/// The number after `name` on the bench's command line, or `default`.
pub fn argument(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
