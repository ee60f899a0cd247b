//! SmartFace's GraphQL API on the real binary, as SmartFace's integrations
//! use it: the query shapes they send, both WebSocket protocols carrying
//! the door's decisions from a replay camera, the key and origin rules on
//! both transports, the limits, and the served schema checked against
//! SmartFace's own.

mod common;

use common::door::{scene, start_door, wait_until_played};
use common::{wait_until, Daemon};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// POSTs `query` with `variables` to the daemon's `/graphql`, with extra
/// headers; (status, body).
fn post(daemon: &Daemon, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let text = body.to_string();
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        text.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&text);
    exchange(daemon, request.as_bytes())
}

/// One raw HTTP/1.1 exchange with the GraphQL port.
fn exchange(daemon: &Daemon, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(daemon.graphql_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The data of a query that must succeed.
fn query(daemon: &Daemon, text: &str) -> Value {
    let (status, body) = post(daemon, &json!({ "query": text }), &[]);
    assert_eq!(status, 200, "{text}: {body}");
    assert!(body.get("errors").is_none(), "{text}: {body}");
    body["data"].clone()
}

/// The errors of a query that must fail, with its status.
fn refused(daemon: &Daemon, text: &str) -> (u16, String) {
    let (status, body) = post(daemon, &json!({ "query": text }), &[]);
    assert!(body["errors"].is_array(), "{text}: {status} {body}");
    (status, body["errors"].to_string())
}

fn ids(items: &Value) -> BTreeSet<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn create_member(daemon: &Daemon, id: &str, full_name: &str, note: &str) {
    let body = json!({"id": id, "fullName": full_name, "displayName": id, "note": note});
    let reply = daemon.put("/api/v1/WatchlistMembers", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn link(daemon: &Daemon, watchlist: &str, members: &[&str]) {
    let body = json!({"watchlistId": watchlist, "watchlistMembersIds": members});
    let reply = daemon.post("/api/v1/WatchlistMembers/LinkToWatchlist", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[test]
fn integrations_find_people_faces_and_pages_with_smartface_s_query_shapes() {
    let daemon = Daemon::start();
    daemon.enrol("obama", "obama.jpg", "staff");
    let named = json!({"id": "obama", "fullName": "Barack Obama", "displayName": "Obama",
                       "labels": [{"key": "badge", "value": "42"}]});
    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &named).status, 200);
    let body = json!({"id": "visitors", "displayName": "Visitors", "fullName": "Visitors"});
    assert_eq!(daemon.put("/api/v1/Watchlists", &body).status, 200);
    create_member(&daemon, "biden", "Joe Biden", "guest");
    link(&daemon, "visitors", &["biden"]);
    std::thread::sleep(Duration::from_millis(5));
    let between = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    std::thread::sleep(Duration::from_millis(5));
    let batch: Vec<String> = (0..25).map(|i| format!("batch-{i:02}")).collect();
    for id in &batch {
        create_member(&daemon, id, &format!("Member {id}"), "batch");
    }
    link(&daemon, "staff", &["batch-00", "batch-01"]);

    // A name, with labels and the registered faces' images.
    let found = query(
        &daemon,
        r#"{ watchlistMembers(skip: 0, take: 10, where: {fullName: {eq: "Barack Obama"}}) {
              items { id fullName displayName note labels { key value }
                      tracklet { faces(where: {faceType: {eq: REGULAR}}) { id createdAt faceType imageDataId } } }
              pageInfo { hasNextPage } totalCount } }"#,
    );
    let segment = &found["watchlistMembers"];
    assert_eq!(segment["totalCount"], 1, "{segment}");
    assert_eq!(segment["pageInfo"]["hasNextPage"], false);
    let obama = &segment["items"][0];
    assert_eq!(obama["id"], "obama");
    assert_eq!(obama["displayName"], "Obama");
    assert_eq!(obama["labels"], json!([{"key": "badge", "value": "42"}]));
    let faces = obama["tracklet"]["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{obama}");
    assert_eq!(faces[0]["faceType"], "REGULAR");
    let image = faces[0]["imageDataId"].as_str().unwrap();
    let photo = daemon.get(&format!("/api/v1/Images/{image}"));
    assert_eq!(photo.status, 200);
    assert_eq!(photo.header("content-type"), Some("image/jpeg"));

    // The face by its image, with its crop and attributes.
    let by_image = query(
        &daemon,
        &format!(
            r#"{{ faces(where: {{imageDataId: {{eq: "{image}"}}}}) {{ items {{ id imageDataId
                   cropLeftTopX cropRightBottomY quality age size faceState trackletId }} totalCount }} }}"#
        ),
    );
    let face = &by_image["faces"]["items"][0];
    assert_eq!(by_image["faces"]["totalCount"], 1);
    assert_eq!(face["id"], faces[0]["id"]);
    assert_eq!(face["faceState"], "EXTRACTED");
    assert!(
        face["cropRightBottomY"].as_f64().unwrap() > face["cropLeftTopX"].as_f64().unwrap() * 0.0
    );
    assert!(face["size"].as_f64().unwrap() > 20.0, "{face}");

    // A watchlist: `some` member of it, and HotChocolate's `all`, which
    // also holds for a member on no watchlist at all.
    let some = query(
        &daemon,
        r#"{ watchlistMembers(where: {watchlists: {some: {id: {eq: "staff"}}}}) { items { id } } }"#,
    );
    assert_eq!(
        ids(&some["watchlistMembers"]["items"]),
        set(&["obama", "batch-00", "batch-01"])
    );
    let all = query(
        &daemon,
        r#"{ watchlistMembers(take: 1000, where: {watchlists: {all: {id: {eq: "staff"}}}}) { items { id } } }"#,
    );
    let all = ids(&all["watchlistMembers"]["items"]);
    assert!(all.contains("obama") && all.contains("batch-00") && all.contains("batch-24"));
    assert!(!all.contains("biden"), "biden is on visitors only");
    let on_a_list = query(
        &daemon,
        r#"{ watchlistMembers(where: {watchlists: {any: true}, fullName: {startsWith: "Member"}}) { items { id } } }"#,
    );
    assert_eq!(
        ids(&on_a_list["watchlistMembers"]["items"]),
        set(&["batch-00", "batch-01"])
    );

    // Creation time, both ways, and the order.
    let before = query(
        &daemon,
        &format!(
            r#"{{ watchlistMembers(where: {{createdAt: {{lte: "{between}"}}}}) {{ items {{ id }} }} }}"#
        ),
    );
    assert_eq!(
        ids(&before["watchlistMembers"]["items"]),
        set(&["obama", "biden"])
    );
    let after = query(
        &daemon,
        &format!(
            r#"{{ watchlistMembers(where: {{and: [{{createdAt: {{gt: "{between}"}}}}, {{note: {{eq: "batch"}}}}]}}) {{ totalCount }} }}"#
        ),
    );
    assert_eq!(after["watchlistMembers"]["totalCount"], 25);
    let newest = query(
        &daemon,
        r#"{ watchlistMembers(take: 2, order: [{createdAt: DESC}]) { items { id } pageInfo { hasNextPage hasPreviousPage } } }"#,
    );
    assert_eq!(
        newest["watchlistMembers"]["items"],
        json!([{"id": "batch-24"}, {"id": "batch-23"}])
    );
    let by_name = query(
        &daemon,
        r#"{ watchlistMembers(take: 3, where: {or: [{id: {in: ["obama", "biden"]}}, {fullName: {endsWith: "-07"}}]}, order: [{fullName: DESC}]) { items { id } } }"#,
    );
    assert_eq!(
        by_name["watchlistMembers"]["items"],
        json!([{"id": "batch-07"}, {"id": "biden"}, {"id": "obama"}])
    );

    // Paging to the end: every member once, in creation order.
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let page = query(
            &daemon,
            &format!(
                r#"{{ watchlistMembers(skip: {}, take: 10, where: {{note: {{eq: "batch"}}}}) {{
                       items {{ id }} pageInfo {{ hasNextPage hasPreviousPage }} totalCount }} }}"#,
                paged.len()
            ),
        );
        let segment = &page["watchlistMembers"];
        assert_eq!(segment["totalCount"], 25);
        assert_eq!(segment["pageInfo"]["hasPreviousPage"], pages > 0);
        let items = segment["items"].as_array().unwrap();
        paged.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_string()));
        pages += 1;
        if segment["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert!(pages < 5, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, batch);

    // The watchlists, by GET as well.
    let url = "/graphql?query=%7Bwatchlists(order%3A%5B%7BfullName%3AASC%7D%5D)%7Bitems%7Bid%20fullName%20threshold%7D%7D%7D";
    let (status, body) = exchange(
        &daemon,
        format!("GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["data"]["watchlists"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["fullName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Visitors", "staff"]);

    // What Facegate has no value for is not in the schema; the limits hold.
    let (status, errors) = refused(&daemon, "{ pedestrians { items { id } } }");
    assert_eq!(status, 400);
    assert!(errors.contains("pedestrians"), "{errors}");
    let (status, errors) = refused(&daemon, "{ faces { items { id objectType } } }");
    assert_eq!(status, 400);
    assert!(errors.contains("objectType"), "{errors}");
    let (_, errors) = refused(&daemon, "{ watchlistMembers(take: 1001) { totalCount } }");
    assert!(
        errors.contains("maximum allowed items per page"),
        "{errors}"
    );
    let deep = "{ watchlists { items { watchlistMembers { watchlists { watchlistMembers { watchlists { watchlistMembers { tracklet { faces { tracklet { id } } } } } } } } } } }";
    let (status, errors) = refused(&daemon, deep);
    assert_eq!(status, 400);
    assert!(errors.contains("deep"), "{errors}");
    let wide: String = (0..600)
        .map(|i| format!("a{i}: watchlists {{ totalCount }} "))
        .collect();
    let (status, errors) = refused(&daemon, &format!("{{ {wide} }}"));
    assert_eq!(status, 400);
    assert!(errors.contains("complex"), "{errors}");
    let (status, errors) = refused(
        &daemon,
        r#"{ watchlistMembers(where: {createdAt: {lte: "yesterday"}}) { totalCount } }"#,
    );
    assert_eq!(status, 400);
    assert!(
        errors.contains("createdAt") || errors.contains("DateTime"),
        "{errors}"
    );
    let huge =
        json!({ "query": format!("{{ watchlists {{ totalCount }} }} #{}", "x".repeat(70_000)) });
    assert_eq!(post(&daemon, &huge, &[]).0, 413);
    let (status, _) = post(
        &daemon,
        &json!([{"query": "{ watchlists { totalCount } }"}]),
        &[],
    );
    assert_eq!(status, 400);
}

/// A type as introspection spells it: `[Face]`, `UUID!`.
fn spelled(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", spelled(&ty["ofType"])),
        "LIST" => format!("[{}]", spelled(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_string(),
    }
}

/// SmartFace's schema as `type.field` → its type, for fields, arguments
/// (`type.field(argument)`) and input fields, and enum values.
fn smartface_schema() -> BTreeMap<String, String> {
    use async_graphql_parser::types::{TypeKind, TypeSystemDefinition};
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/smartface-graphql.schema.graphql"),
    )
    .unwrap();
    let document = async_graphql_parser::parse_schema(&text).unwrap();
    let mut entries = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let name = ty.node.name.node.to_string();
        entries.insert(name.clone(), "type".to_string());
        match &ty.node.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    let field = &field.node;
                    let key = format!("{name}.{}", field.name.node);
                    for argument in &field.arguments {
                        let argument = &argument.node;
                        entries.insert(
                            format!("{key}({})", argument.name.node),
                            argument.ty.node.to_string(),
                        );
                    }
                    entries.insert(key, field.ty.node.to_string());
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    let field = &field.node;
                    entries.insert(
                        format!("{name}.{}", field.name.node),
                        field.ty.node.to_string(),
                    );
                }
            }
            TypeKind::Enum(e) => {
                for value in &e.values {
                    entries.insert(format!("{name}.{}", value.node.value.node), "value".into());
                }
            }
            _ => {}
        }
    }
    entries
}

#[test]
fn every_type_and_field_served_is_smartface_s_with_the_same_type() {
    let daemon = Daemon::start();
    let introspection = query(
        &daemon,
        "{ __schema { queryType { name } subscriptionType { name } types { name kind
             fields { name type { ...T } args { name type { ...T } } }
             inputFields { name type { ...T } } enumValues { name } } } }
         fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }",
    );
    let smartface = smartface_schema();
    let mut served = BTreeMap::new();
    for ty in introspection["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        served.insert(name.to_string(), "type".to_string());
        for field in ty["fields"].as_array().into_iter().flatten() {
            let key = format!("{name}.{}", field["name"].as_str().unwrap());
            for argument in field["args"].as_array().unwrap() {
                served.insert(
                    format!("{key}({})", argument["name"].as_str().unwrap()),
                    spelled(&argument["type"]),
                );
            }
            served.insert(key, spelled(&field["type"]));
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            served.insert(
                format!("{name}.{}", field["name"].as_str().unwrap()),
                spelled(&field["type"]),
            );
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            served.insert(
                format!("{name}.{}", value["name"].as_str().unwrap()),
                "value".into(),
            );
        }
    }
    let different: Vec<String> = served
        .iter()
        .filter(|(key, ty)| smartface.get(*key) != Some(ty))
        .map(|(key, ty)| format!("{key}: {ty} (SmartFace: {:?})", smartface.get(key)))
        .collect();
    assert!(
        different.is_empty(),
        "served unlike SmartFace: {different:#?}"
    );
    // The subset is the issue's: the four queries and two subscriptions.
    for wanted in [
        "Query.watchlistMembers",
        "Query.watchlists",
        "Query.faces",
        "Query.matchResults",
        "Subscription.matchResult",
        "Subscription.noMatchResult",
        "WatchlistMemberFilterInput.watchlists",
        "ListFilterInputTypeOfWatchlistFilterInput.all",
        "MatchResultNotificationDTO.cropImage",
        "Tracklet.faces",
    ] {
        assert!(served.contains_key(wanted), "{wanted} is not served");
    }
    assert!(!served.contains_key("Query.pedestrians"));
    assert_eq!(
        introspection["__schema"]["subscriptionType"]["name"],
        "Subscription"
    );
}

/// A subscriber on one WebSocket: the messages it receives go to `sink`.
struct Socket {
    socket: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

const TRANSPORT_WS: &str = "graphql-transport-ws";
const GRAPHQL_WS: &str = "graphql-ws";

/// Opens a WebSocket at `/graphql` in `protocol` with `headers`; the HTTP
/// status of a refused upgrade.
fn open_socket(
    daemon: &Daemon,
    protocol: &'static str,
    headers: &[(&str, &str)],
) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/graphql", daemon.graphql_addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tungstenite::connect(request) {
        Ok((socket, _)) => {
            if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
            }
            Ok(Socket { socket, protocol })
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("cannot open a WebSocket: {e}"),
    }
}

impl Socket {
    fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
    }

    /// The next JSON message, skipping keep-alives; `None` once closed.
    fn next(&mut self) -> Option<Value> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "ka" || message["type"] == "ping" {
                        continue;
                    }
                    return Some(message);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// `connection_init` with `payload`; whether it was acknowledged.
    fn init(&mut self, payload: Value) -> bool {
        self.send(json!({"type": "connection_init", "payload": payload}));
        self.next().is_some_and(|m| m["type"] == "connection_ack")
    }

    fn subscribe(&mut self, id: &str, query: &str) {
        let kind = match self.protocol {
            TRANSPORT_WS => "subscribe",
            _ => "start",
        };
        self.send(json!({"id": id, "type": kind, "payload": {"query": query}}));
    }

    /// The payload of the next result (`next` or `data`).
    fn result(&mut self) -> Option<Value> {
        let message = self.next()?;
        match message["type"].as_str() {
            Some("next") | Some("data") => Some(message["payload"].clone()),
            _ => panic!("not a result: {message}"),
        }
    }
}

const MATCH: &str = "subscription { matchResult { id watchlistMemberId watchlistMemberFullName
    watchlistMemberDisplayName watchlistId watchlistFullName watchlistDisplayName previewColor
    score cropImage spoofCheck { performed passed } faceSize streamId createdAt labels { key value } } }";
const FILTERED_OUT: &str =
    "subscription { matchResult(where: {or: [{score: {lt: 0}}, {watchlistId: {eq: \"visitors\"}}]}) { id } }";
const NO_MATCH: &str =
    "subscription { noMatchResult { id type cropImage faceSize streamId createdAt faceId } }";

fn jpeg(base64_text: &Value) -> bool {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_text.as_str().unwrap())
        .unwrap();
    bytes.starts_with(&[0xFF, 0xD8])
}

#[test]
fn a_hundred_subscribers_on_both_protocols_receive_the_door_s_decisions_and_rest_still_answers() {
    let data = tempfile::tempdir().unwrap();
    {
        let daemon = Daemon::start_in(data.path(), None);
        daemon.enrol("obama", "obama.jpg", "staff");
        let named = json!({"id": "obama", "fullName": "Barack Obama", "displayName": "Obama",
                           "labels": [{"key": "badge", "value": "42"}]});
        assert_eq!(daemon.put("/api/v1/WatchlistMembers", &named).status, 200);
    }
    // Ten seconds of empty hall while a hundred subscribers connect; then
    // Obama; then a stranger.
    let shots = [
        ("blank", 50),
        ("obama2.jpg", 4),
        ("blank", 14),
        ("biden.jpg", 4),
        ("blank", 10),
    ];
    let frames = shots.iter().map(|(_, n)| *n as u64).sum();
    let scene = scene(&shots);
    let config = "[edge]\ncooldown_seconds = 0.0\nevidence_frames = 1\n";
    let daemon = start_door(data.path(), config, scene.path(), 5, "fake", &[]);
    let (results, received) = mpsc::channel::<(usize, &'static str, Value)>();
    let mut sockets = Vec::new();
    for n in 0..100 {
        let (protocol, wanted) = match n % 4 {
            // One subscriber's filter holds for no decision.
            _ if n == 98 => (GRAPHQL_WS, FILTERED_OUT),
            0 => (TRANSPORT_WS, MATCH),
            1 => (TRANSPORT_WS, NO_MATCH),
            2 => (GRAPHQL_WS, MATCH),
            _ => (GRAPHQL_WS, NO_MATCH),
        };
        let mut socket = open_socket(&daemon, protocol, &[]).unwrap();
        assert!(socket.init(json!({})));
        socket.subscribe("1", wanted);
        let results = results.clone();
        let kind = match wanted {
            MATCH => "match",
            NO_MATCH => "stranger",
            _ => "filtered out",
        };
        sockets.push(std::thread::spawn(move || {
            if let Some(payload) = socket.result() {
                let _ = results.send((n, kind, payload));
            }
        }));
    }
    wait_until(Duration::from_secs(30), "a hundred subscriptions", || {
        let status = daemon.get("/api/facegate/v1/Status").json();
        status["graphqlSubscriptions"]["subscribers"]
            .as_array()
            .is_some_and(|s| s.len() == 100)
    });
    // One more WebSocket is refused, and REST answers as before.
    assert_eq!(open_socket(&daemon, TRANSPORT_WS, &[]).err(), Some(503));
    for _ in 0..10 {
        assert_eq!(daemon.get("/api/v1/Watchlists").status, 200);
    }
    let status = daemon.get("/api/facegate/v1/Status").json();
    assert_eq!(
        status["opens"].as_u64().unwrap() + status["denials"].as_u64().unwrap(),
        0,
        "the door decided before the subscribers were there: {status}"
    );
    wait_until_played(&daemon, frames);
    let mut by_kind: BTreeMap<&str, Vec<(usize, Value)>> = BTreeMap::new();
    for _ in 0..99 {
        let (n, kind, payload) = received
            .recv_timeout(Duration::from_secs(60))
            .expect("every subscriber receives its decision");
        assert_eq!(daemon.get("/api/v1/Watchlists").status, 200);
        by_kind.entry(kind).or_default().push((n, payload));
    }
    assert!(received.recv_timeout(Duration::from_secs(3)).is_err());
    let matches = &by_kind["match"];
    let strangers = &by_kind["stranger"];
    assert_eq!((matches.len(), strangers.len()), (49, 50));
    assert!(!by_kind.contains_key("filtered out"));
    let (_, first) = &matches[0];
    let decision = &first["data"]["matchResult"];
    assert!(
        matches.iter().all(|(_, m)| m == first),
        "one decision for all"
    );
    assert_eq!(decision["watchlistMemberId"], "obama");
    assert_eq!(decision["watchlistMemberFullName"], "Barack Obama");
    assert_eq!(decision["watchlistMemberDisplayName"], "Obama");
    assert_eq!(decision["watchlistId"], "staff");
    assert_eq!(decision["watchlistFullName"], "staff");
    assert_eq!(decision["labels"], json!([{"key": "badge", "value": "42"}]));
    assert_eq!(decision["spoofCheck"]["performed"], true);
    assert_eq!(decision["spoofCheck"]["passed"], true);
    assert!(decision["score"].as_i64().unwrap() > 0);
    assert!(decision["faceSize"].as_f64().unwrap() > 20.0);
    assert!(decision["previewColor"].is_string());
    assert!(jpeg(&decision["cropImage"]), "the crop is a base64 JPEG");
    assert!(uuid::Uuid::parse_str(decision["streamId"].as_str().unwrap()).is_ok());
    let (_, stranger) = &strangers[0];
    let stranger = &stranger["data"]["noMatchResult"];
    assert_eq!(stranger["type"], "NO_MATCH");
    assert!(jpeg(&stranger["cropImage"]));
    assert_eq!(stranger["streamId"], decision["streamId"]);

    // The decision is a past match result too, under the same id.
    let past = query(
        &daemon,
        &format!(
            r#"{{ matchResults(where: {{id: {{eq: {}}}}}) {{ items {{ id watchlistMemberId score streamId
                   watchlistId watchlistFullName previewColor watchlist {{ id }}
                   watchlistMember {{ fullName }} face {{ imageDataId }} }} totalCount }} }}"#,
            decision["id"]
        ),
    );
    let items = &past["matchResults"]["items"];
    assert_eq!(past["matchResults"]["totalCount"], 1, "{past}");
    assert_eq!(items[0]["id"], decision["id"]);
    assert_eq!(items[0]["score"], decision["score"]);
    assert_eq!(items[0]["watchlistMember"]["fullName"], "Barack Obama");
    assert_eq!(items[0]["watchlistId"], "staff");
    assert_eq!(items[0]["watchlist"]["id"], "staff");
    assert_eq!(items[0]["watchlistFullName"], decision["watchlistFullName"]);
    assert_eq!(items[0]["previewColor"], decision["previewColor"]);
    assert!(items[0]["face"]["imageDataId"].is_string());
    let since = query(
        &daemon,
        &format!(
            r#"{{ faces(where: {{and: [{{streamId: {{in: [{}]}}}}, {{processedAt: {{gte: "2020-01-01T00:00:00Z"}}}}, {{matchResults: {{any: true}}}}]}}) {{ items {{ id }} }} }}"#,
            decision["streamId"]
        ),
    );
    let seen: Vec<&Value> = since["faces"]["items"].as_array().unwrap().iter().collect();
    assert!(!seen.is_empty(), "the matched camera face: {since}");
    assert!(
        !seen.iter().any(|f| f["id"] == stranger["faceId"]),
        "a stranger has no match"
    );
}

#[test]
fn the_key_and_the_origin_rules_hold_on_both_transports() {
    let daemon = Daemon::start_with_config("[server]\napi_key = \"door-secret\"\n");
    let ask = json!({"query": "{ watchlists { totalCount } }"});
    assert_eq!(post(&daemon, &ask, &[]).0, 401);
    assert_eq!(
        post(&daemon, &ask, &[("Authorization", "Bearer wrong")]).0,
        401
    );
    let (status, body) = post(&daemon, &ask, &[("Authorization", "Bearer door-secret")]);
    assert_eq!(
        (status, &body["data"]["watchlists"]["totalCount"]),
        (200, &json!(0))
    );
    assert_eq!(post(&daemon, &ask, &[("X-Api-Key", "door-secret")]).0, 200);

    // A page elsewhere may not act, nor subscribe, nor rebind the name.
    let keyed = ("X-Api-Key", "door-secret");
    let foreign = [keyed, ("Origin", "http://evil.example")];
    assert_eq!(post(&daemon, &ask, &foreign).0, 403);
    assert_eq!(
        post(&daemon, &ask, &[keyed, ("Sec-Fetch-Site", "cross-site")]).0,
        403
    );
    let text = ask.to_string();
    let plain = format!(
        "POST /graphql HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: door-secret\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    assert_eq!(exchange(&daemon, plain.as_bytes()).0, 415);
    let rebound = "GET /graphql?query=%7Bwatchlists%7BtotalCount%7D%7D HTTP/1.1\r\n\
                   Host: door.evil.example\r\nX-Api-Key: door-secret\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(&daemon, rebound.as_bytes()).0, 421);
    assert_eq!(
        open_socket(&daemon, TRANSPORT_WS, &[("Origin", "http://evil.example")]).err(),
        Some(403)
    );

    // A WebSocket takes the key in its headers or in connection_init.
    for protocol in [TRANSPORT_WS, GRAPHQL_WS] {
        let mut without = open_socket(&daemon, protocol, &[]).unwrap();
        assert!(
            !without.init(json!({"Authorization": "Bearer wrong"})),
            "{protocol}"
        );
        let mut with = open_socket(&daemon, protocol, &[]).unwrap();
        assert!(with.init(json!({"X-Api-Key": "door-secret"})), "{protocol}");
        with.subscribe("1", NO_MATCH);
        let mut by_header = open_socket(&daemon, protocol, &[keyed]).unwrap();
        assert!(by_header.init(json!({})), "{protocol}");
    }
    // A socket that never opens its connection is closed (the
    // initialisation timeout), freeing its place.
    let mut idle = open_socket(&daemon, TRANSPORT_WS, &[keyed]).unwrap();
    let opened = std::time::Instant::now();
    assert!(idle.next().is_none());
    assert!(opened.elapsed() < Duration::from_secs(30));
    // A subscription before connection_init is not served.
    let mut early = open_socket(&daemon, TRANSPORT_WS, &[]).unwrap();
    early.subscribe("1", NO_MATCH);
    assert!(early.next().is_none_or(|m| m["type"] != "next"));
}

#[test]
fn a_subscriber_that_only_listens_stays_subscribed() {
    // Subscribers send nothing after subscribing; a server that took
    // silence for a dead client (async-graphql's keep-alive timeout, 30 s)
    // would drop them all.
    let daemon = Daemon::start();
    let mut listeners = Vec::new();
    for protocol in [TRANSPORT_WS, GRAPHQL_WS] {
        let mut socket = open_socket(&daemon, protocol, &[]).unwrap();
        assert!(socket.init(json!({})));
        socket.subscribe("1", NO_MATCH);
        listeners.push(socket);
    }
    let subscribed = || {
        let status = daemon.get("/api/facegate/v1/Status").json();
        status["graphqlSubscriptions"]["subscribers"]
            .as_array()
            .map_or(0, Vec::len)
    };
    wait_until(Duration::from_secs(10), "both subscriptions", || {
        subscribed() == 2
    });
    std::thread::sleep(Duration::from_secs(40));
    assert_eq!(subscribed(), 2, "a silent subscriber was dropped");
}
