//! The GraphQL API against the real binary: a name lookup and a
//! 1,000-member page at 10,000 members, and the door's decisions fanned out
//! to 100 WebSocket subscribers.
//!
//!     cargo bench -p facegate --bench graphql [-- --members N --requests R --visits V]
//!
//! Creates N members (default 10,000), all on one watchlist; measures R
//! name lookups (default 200: `fullName: {eq: ...}`, which no index
//! serves, so every member is read) and R/4 pages of 1,000 members with
//! their labels; then replays V stranger visits (default 20) to a door
//! whose 100 subscribers (`noMatchResult`, half on each WebSocket protocol)
//! each receive every decision, and reports deliveries per second and the
//! delay from a decision's `createdAt` to its arrival.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/load.rs"]
mod load;

use common::door::{scene, start_door, wait_until_played};
use common::{wait_until, Daemon};
use load::Load;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

/// One POST /graphql on a fresh connection; the response's JSON.
fn graphql(address: &str, query: &str) -> Value {
    let body = json!({ "query": query }).to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let json = answer.split("\r\n\r\n").nth(1).unwrap();
    let value: Value = serde_json::from_str(json).unwrap();
    assert!(value.get("errors").is_none(), "{value}");
    value
}

fn report(name: &str, load: &Load) {
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} |",
        load.latencies.len(),
        load.ms(0.5),
        load.ms(0.99),
        load.requests_per_second
    );
}

fn populate(daemon: &Daemon, members: usize) {
    let body = json!({"id": "staff", "displayName": "Staff", "fullName": "Staff"});
    assert_eq!(daemon.put("/api/v1/Watchlists", &body).status, 200);
    let started = Instant::now();
    let ids: Vec<String> = (0..members).map(|i| format!("m{i:05}")).collect();
    for id in &ids {
        let member = json!({"id": id, "fullName": format!("Member {id}"), "displayName": id,
                            "labels": [{"key": "badge", "value": id}]});
        assert_eq!(daemon.put("/api/v1/WatchlistMembers", &member).status, 200);
    }
    for chunk in ids.chunks(1000) {
        let body = json!({"watchlistId": "staff", "watchlistMembersIds": chunk});
        let reply = daemon.post("/api/v1/WatchlistMembers/LinkToWatchlist", &body);
        assert_eq!(reply.status, 204);
    }
    eprintln!(
        "{members} members created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn queries(members: usize, requests: usize) {
    let daemon = Daemon::start();
    populate(&daemon, members);
    let address = daemon.graphql_addr();
    println!("| query | requests | p50 ms | p99 ms | requests/s |");
    println!("|---|---|---|---|---|");
    let lookup = load::run(1, requests, &|_, n| {
        let id = format!("m{:05}", (n * 7919) % members);
        let found = graphql(
            &address,
            &format!(
                r#"{{ watchlistMembers(where: {{fullName: {{eq: "Member {id}"}}}}) {{ items {{ id fullName }} totalCount }} }}"#
            ),
        );
        assert_eq!(found["data"]["watchlistMembers"]["totalCount"], 1);
    });
    report(
        &format!("name lookup (`fullName: {{eq}}`) at {members} members"),
        &lookup,
    );
    let pages = (members / 1000).max(1);
    let page = load::run(1, (requests / 4).max(1), &|_, n| {
        let skip = (n % pages) * 1000;
        let found = graphql(
            &address,
            &format!(
                r#"{{ watchlistMembers(skip: {skip}, take: 1000, where: {{watchlists: {{some: {{id: {{eq: "staff"}}}}}}}}) {{ items {{ id fullName displayName labels {{ key value }} }} pageInfo {{ hasNextPage }} }} }}"#
            ),
        );
        let items = found["data"]["watchlistMembers"]["items"]
            .as_array()
            .unwrap();
        assert_eq!(items.len(), 1000.min(members - skip));
    });
    report(
        &format!("1,000-member page of a watchlist at {members} members"),
        &page,
    );
}

/// A WebSocket subscribed to strangers' decisions in `protocol`.
fn subscriber(
    address: &str,
    protocol: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    let mut request = format!("ws://{address}/graphql")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (mut socket, _) = tungstenite::connect(request).unwrap();
    let send = |socket: &mut tungstenite::WebSocket<_>, message: Value| {
        socket.send(Message::text(message.to_string())).unwrap()
    };
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {}}),
    );
    let start = match protocol {
        "graphql-transport-ws" => "subscribe",
        _ => "start",
    };
    send(
        &mut socket,
        json!({"id": "1", "type": start, "payload": {"query": "subscription { noMatchResult { id createdAt } }"}}),
    );
    socket
}

fn fan_out(visits: usize) {
    let data = tempfile::tempdir().unwrap();
    let mut shots = vec![("blank", 50)];
    for _ in 0..visits {
        shots.extend([("biden.jpg", 2), ("blank", 25)]);
    }
    let frames = shots.iter().map(|(_, n)| *n as u64).sum();
    let scene = scene(&shots);
    let config = "[edge]\ncooldown_seconds = 0.0\nevidence_frames = 1\n";
    let daemon = start_door(data.path(), config, scene.path(), 10, "fake", &[]);
    let address = daemon.graphql_addr();
    let (arrivals, arrived) = mpsc::channel::<(String, Instant, f64)>();
    for n in 0..100 {
        let protocol = match n % 2 {
            0 => "graphql-transport-ws",
            _ => "graphql-ws",
        };
        let mut socket = subscriber(&address, protocol);
        let arrivals = arrivals.clone();
        std::thread::spawn(move || {
            while let Ok(message) = socket.read() {
                let Message::Text(text) = message else {
                    continue;
                };
                let message: Value = serde_json::from_str(&text).unwrap();
                if !matches!(message["type"].as_str(), Some("next" | "data")) {
                    continue;
                }
                let decision = &message["payload"]["data"]["noMatchResult"];
                let created = decision["createdAt"].as_str().unwrap();
                let created = humantime::parse_rfc3339(created).unwrap();
                let delay = SystemTime::now()
                    .duration_since(created)
                    .unwrap_or_default();
                let id = decision["id"].as_str().unwrap().to_string();
                let _ = arrivals.send((id, Instant::now(), delay.as_secs_f64() * 1e3));
            }
        });
    }
    drop(arrivals);
    wait_until(Duration::from_secs(30), "the subscribers", || {
        let status = daemon.get("/api/facegate/v1/Status").json();
        status["graphqlSubscriptions"]["subscribers"]
            .as_array()
            .is_some_and(|s| s.len() == 100)
    });
    wait_until_played(&daemon, frames);
    std::thread::sleep(Duration::from_secs(2));
    let status = daemon.get("/api/facegate/v1/Status").json();
    let decisions = status["denials"].as_u64().unwrap();
    let events = daemon.get("/api/facegate/v1/Events?PageSize=100").json();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for event in events["items"].as_array().unwrap() {
        let face = if event["faceId"].is_string() {
            "with face"
        } else {
            "no face"
        };
        *reasons
            .entry(format!("{} ({face})", event["reason"].as_str().unwrap()))
            .or_default() += 1;
    }
    eprintln!("decisions: {reasons:?}");
    let received: Vec<(String, Instant, f64)> = arrived.try_iter().collect();
    // Each decision's 100 deliveries: from the first to the last.
    let mut by_decision: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    for (id, at, _) in &received {
        by_decision.entry(id.clone()).or_default().push(*at);
    }
    let mut spreads: Vec<f64> = by_decision
        .values()
        .map(|arrivals| {
            let first = arrivals.iter().min().unwrap();
            let last = arrivals.iter().max().unwrap();
            (*last - *first).as_secs_f64() * 1e3
        })
        .collect();
    spreads.sort_by(f64::total_cmp);
    let mut delays: Vec<f64> = received.iter().map(|(_, _, d)| *d).collect();
    delays.sort_by(f64::total_cmp);
    let at = |sorted: &[f64], q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let complete = by_decision.values().filter(|a| a.len() == 100).count();
    println!();
    println!(
        "| subscribers | decisions | delivered to all 100 | deliveries | delay p50 ms | delay p99 ms | one decision to all 100, median ms | deliveries/s within it |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let spread = at(&spreads, 0.5);
    println!(
        "| 100 | {decisions} | {complete} | {} | {:.1} | {:.1} | {spread:.2} | {:.0} |",
        received.len(),
        at(&delays, 0.5),
        at(&delays, 0.99),
        99.0 / (spread / 1e3),
    );
}

fn main() {
    let members = load::argument("--members", 10_000);
    let requests = load::argument("--requests", 200);
    let visits = load::argument("--visits", 20);
    queries(members, requests);
    fan_out(visits);
}
