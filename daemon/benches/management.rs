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
#[path = "support/load.rs"]
mod load;

use common::Daemon;
use load::Load;
use serde_json::json;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn report(name: &str, clients: usize, rounds: &[Load]) {
    let rps = median(rounds.iter().map(|r| r.requests_per_second).collect());
    let p50 = median(rounds.iter().map(|r| r.ms(0.5)).collect());
    let p99 = median(rounds.iter().map(|r| r.ms(0.99)).collect());
    println!("| {name} | {clients} | {rps:.0} | {p50:.2} | {p99:.2} |");
}

fn main() {
    let members = load::argument("--members", 10_000);
    let rounds = load::argument("--rounds", 3);
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
    let create_rounds: Vec<Load> = (0..rounds)
        .map(|round| {
            load::run(1, per_round, &|_, i| {
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
        let get: Vec<Load> = (0..rounds)
            .map(|_| {
                load::run(clients, 2000, &|_, i| {
                    let reply = daemon.get(&format!("/api/v1/WatchlistMembers/m{}", scatter(i)));
                    assert_eq!(reply.status, 200);
                })
            })
            .collect();
        report("get member", clients, &get);

        let pages = created.div_ceil(100);
        let list: Vec<Load> = (0..rounds)
            .map(|_| {
                load::run(clients, 300, &|_, i| {
                    let page = scatter(i) % pages + 1;
                    let path = format!(
                        "/api/v1/WatchlistMembers?PageNumber={page}&PageSize=100&ShowTotalCount=true"
                    );
                    assert_eq!(daemon.get(&path).status, 200);
                })
            })
            .collect();
        report("list members, 100/page, random page", clients, &list);

        let in_watchlist: Vec<Load> = (0..rounds)
            .map(|_| {
                load::run(clients, 300, &|_, i| {
                    let page = scatter(i) % pages + 1;
                    let path = format!(
                        "/api/v1/Watchlists/{watchlist}/WatchlistMembers?PageNumber={page}&PageSize=100&ShowTotalCount=true"
                    );
                    assert_eq!(daemon.get(&path).status, 200);
                })
            })
            .collect();
        report("list watchlist members, 100/page", clients, &in_watchlist);

        let update: Vec<Load> = (0..rounds)
            .map(|_| {
                load::run(clients, 1000, &|client, i| {
                    let id = format!("m{}", scatter(i));
                    let body = json!({"id": id, "note": format!("client {client}")});
                    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &body).status, 200);
                })
            })
            .collect();
        report("upsert (update) member", clients, &update);
    }
}
