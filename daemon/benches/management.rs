//! Management API throughput and latency over HTTP against the real binary.
//!
//!     cargo bench -p facegate --bench management [-- --members N --rounds R]
//!
//! Creates N members (default 10000) through the API, links them to one
//! watchlist, then measures create, get and paged-list requests from 1 and
//! from 8 concurrent clients. Each figure is the median over R rounds
//! (default 3) of that round's value.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::Daemon;
use serde_json::json;
use std::time::{Duration, Instant};

struct Round {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `requests` calls of `op` split over `clients` threads; `op` gets the
/// client index and the request index.
fn measure(clients: usize, requests: usize, op: &(dyn Fn(usize, usize) + Sync)) -> Round {
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
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Round {
        requests_per_second: requests as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn report(name: &str, clients: usize, rounds: &[Round]) {
    let rps = median(rounds.iter().map(|r| r.requests_per_second).collect());
    let p50 = median(rounds.iter().map(|r| r.p50.as_secs_f64() * 1e3).collect());
    let p99 = median(rounds.iter().map(|r| r.p99.as_secs_f64() * 1e3).collect());
    println!("| {name} | {clients} | {rps:.0} | {p50:.2} | {p99:.2} |");
}

fn argument(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let members = argument("--members", 10_000);
    let rounds = argument("--rounds", 3);
    let daemon = Daemon::start();
    let watchlist = "bench";
    let reply = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": watchlist, "displayName": "Bench", "fullName": "Bench"}),
    );
    assert_eq!(reply.status, 200);

    println!("{members} members, median of {rounds} rounds\n");
    println!("| operation | clients | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");

    // Creating the gallery is itself the create benchmark: rounds split it.
    let per_round = members / rounds;
    let create_rounds: Vec<Round> = (0..rounds)
        .map(|round| {
            measure(1, per_round, &|_, i| {
                let id = format!("m{}", round * per_round + i);
                let body = json!({"id": id, "displayName": id, "labels": [{"key": "badge", "value": "1234"}]});
                assert_eq!(daemon.put("/api/v1/WatchlistMembers", &body).status, 200);
            })
        })
        .collect();
    report("upsert (create) member", 1, &create_rounds);
    let created = per_round * rounds;
    let ids: Vec<String> = (0..created).map(|i| format!("m{i}")).collect();
    for chunk in ids.chunks(1000) {
        let body = json!({"watchlistId": watchlist, "watchlistMembersIds": chunk});
        let reply = daemon.post("/api/v1/WatchlistMembers/LinkToWatchlist", &body);
        assert_eq!(reply.status, 204);
    }

    let scatter = |i: usize| (i * 7919) % created;
    for clients in [1, 8] {
        let get: Vec<Round> = (0..rounds)
            .map(|_| {
                measure(clients, 2000, &|_, i| {
                    let reply = daemon.get(&format!("/api/v1/WatchlistMembers/m{}", scatter(i)));
                    assert_eq!(reply.status, 200);
                })
            })
            .collect();
        report("get member", clients, &get);

        let pages = created.div_ceil(100);
        let list: Vec<Round> = (0..rounds)
            .map(|_| {
                measure(clients, 300, &|_, i| {
                    let page = scatter(i) % pages + 1;
                    let path = format!(
                        "/api/v1/WatchlistMembers?PageNumber={page}&PageSize=100&ShowTotalCount=true"
                    );
                    assert_eq!(daemon.get(&path).status, 200);
                })
            })
            .collect();
        report("list members, 100/page, random page", clients, &list);

        let in_watchlist: Vec<Round> = (0..rounds)
            .map(|_| {
                measure(clients, 300, &|_, i| {
                    let page = scatter(i) % pages + 1;
                    let path = format!(
                        "/api/v1/Watchlists/{watchlist}/WatchlistMembers?PageNumber={page}&PageSize=100&ShowTotalCount=true"
                    );
                    assert_eq!(daemon.get(&path).status, 200);
                })
            })
            .collect();
        report("list watchlist members, 100/page", clients, &in_watchlist);

        let update: Vec<Round> = (0..rounds)
            .map(|_| {
                measure(clients, 1000, &|client, i| {
                    let id = format!("m{}", scatter(i));
                    let body = json!({"id": id, "note": format!("client {client}")});
                    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &body).status, 200);
                })
            })
            .collect();
        report("upsert (update) member", clients, &update);
    }
}
