//! The SmartFace management API, driven over HTTP against the real binary.

mod common;

use common::{artifacts, keys, photo_base64, problem, sorted, wait_until, Daemon, Reply};
use serde_json::{json, Value};
use std::time::Duration;

const WATCHLIST_FIELDS: &[&str] = &[
    "createdAt",
    "displayName",
    "fullName",
    "id",
    "previewColor",
    "threshold",
    "updatedAt",
];
const MEMBER_FIELDS: &[&str] = &[
    "createdAt",
    "displayName",
    "fullName",
    "id",
    "labels",
    "note",
    "updatedAt",
];
const PAGE_FIELDS: &[&str] = &[
    "items",
    "nextPage",
    "pageNumber",
    "pageSize",
    "previousPage",
    "totalItemsCount",
];

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| humantime::parse_rfc3339(s).is_ok())
}

fn create_watchlist(daemon: &Daemon, name: &str) -> Value {
    let reply = daemon.post(
        "/api/v1/Watchlists",
        &json!({"displayName": name, "fullName": format!("{name} (full)")}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

fn put_member(daemon: &Daemon, id: &str) -> Value {
    let reply = daemon.put(
        "/api/v1/WatchlistMembers",
        &json!({"id": id, "displayName": id}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn link(daemon: &Daemon, watchlist: &str, members: &[&str]) -> u16 {
    daemon
        .post(
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            &json!({"watchlistId": watchlist, "watchlistMembersIds": members}),
        )
        .status
}

/// Follows `nextPage` links from `first` and returns every item id.
fn walk_pages(daemon: &Daemon, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next {
        let reply = daemon.get(&path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let page = reply.json();
        assert_eq!(keys(&page), sorted(PAGE_FIELDS));
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_string()),
        );
        next = page["nextPage"].as_str().map(str::to_string);
    }
    ids
}

#[test]
fn version_reports_the_database_schema_and_build() {
    let daemon = Daemon::start();
    let reply = daemon.get("/api/v1/Version");
    assert_eq!(reply.status, 200);
    let version = reply.json();
    assert_eq!(
        keys(&version),
        sorted(&[
            "assemblyLastModifiedTime",
            "assemblyVersion",
            "databaseVersion",
            "databaseVersionCreationTime",
            "databaseVersionUpdatedTime",
            "fullVersion",
        ])
    );
    assert_eq!(version["databaseVersion"], "12");
    assert_eq!(version["assemblyVersion"], env!("CARGO_PKG_VERSION"));
    for field in [
        "databaseVersionCreationTime",
        "databaseVersionUpdatedTime",
        "assemblyLastModifiedTime",
    ] {
        assert!(is_rfc3339(&version[field]), "{field}: {version}");
    }
}

#[test]
fn without_a_door_opening_it_is_409_and_the_console_is_served_at_the_root() {
    let daemon = Daemon::start();
    let refused = daemon.post("/api/facegate/v1/Door/Open", &json!({}));
    let details = problem(&refused, 409);
    assert!(
        details["detail"].as_str().unwrap().contains("--relay"),
        "{details}"
    );
    assert!(daemon.get("/api/facegate/v1/Events").json()["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // What the console's About page shows besides.
    let status = daemon.get("/api/facegate/v1/Status").json();
    assert_eq!(status["galleryFaces"], 0, "{status}");
    assert!(
        status["storage"]["databaseBytes"].as_u64().unwrap() > 0,
        "{status}"
    );
    let config = daemon.get("/api/facegate/v1/Config").json();
    assert_eq!(config["server"]["api_key"], "", "{config}");
    assert_eq!(
        config["storage"]["data_dir"],
        daemon.data_dir.to_str().unwrap()
    );
    let page = daemon.get("/");
    assert_eq!(
        (page.status, page.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(page.body.contains("/console/app.js"), "{}", page.body);
    let script = daemon.get("/console/app.js");
    assert_eq!(script.content_type, "text/javascript; charset=utf-8");
    assert!(script
        .header("Content-Security-Policy")
        .is_some_and(|policy| policy.starts_with("default-src 'self'")));
    // Everything else is still the API's.
    problem(&daemon.get("/console/nothing.js"), 404);
}

#[test]
fn watchlist_create_read_upsert_delete() {
    let daemon = Daemon::start();
    let created = create_watchlist(&daemon, "Staff");
    assert_eq!(keys(&created), sorted(WATCHLIST_FIELDS));
    assert_eq!(created["threshold"], 40);
    assert_eq!(created["displayName"], "Staff");
    assert!(created["previewColor"].as_str().unwrap().starts_with('#'));
    assert!(is_rfc3339(&created["createdAt"]));
    let id = created["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let fetched = daemon.get(&format!("/api/v1/Watchlists/{id}")).json();
    assert_eq!(fetched, created);

    let updated = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": id, "displayName": "Staff 2", "fullName": "F", "threshold": 70, "previewColor": "#0a0"}),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated = updated.json();
    assert_eq!(updated["displayName"], "Staff 2");
    assert_eq!(updated["threshold"], 70);
    assert_eq!(updated["previewColor"], "#0a0");
    assert_eq!(updated["createdAt"], created["createdAt"]);
    assert!(is_rfc3339(&updated["updatedAt"]));

    let upserted = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": "chosen-id", "displayName": "New", "fullName": "New"}),
    );
    assert_eq!(upserted.status, 200);
    assert_eq!(upserted.json()["id"], "chosen-id");
    assert_eq!(upserted.json()["threshold"], 40);
    assert_eq!(daemon.get("/api/v1/Watchlists/chosen-id").status, 200);

    assert_eq!(
        daemon.delete(&format!("/api/v1/Watchlists/{id}")).status,
        204
    );
    problem(&daemon.get(&format!("/api/v1/Watchlists/{id}")), 404);
    problem(&daemon.delete(&format!("/api/v1/Watchlists/{id}")), 404);
}

#[test]
fn member_create_read_upsert_delete() {
    let daemon = Daemon::start();
    let reply = daemon.post(
        "/api/v1/WatchlistMembers",
        &json!({"displayName": "Ann", "fullName": "Ann Smith", "note": "n",
                "labels": [{"key": "dept", "value": "R&D"}, {"key": null, "value": "x"}]}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.json();
    assert_eq!(keys(&created), sorted(MEMBER_FIELDS));
    assert_eq!(
        created["labels"],
        json!([{"key": "dept", "value": "R&D"}, {"key": null, "value": "x"}])
    );
    assert_eq!(keys(&created["labels"][0]), sorted(&["key", "value"]));
    let id = created["id"].as_str().unwrap();

    assert_eq!(
        daemon.get(&format!("/api/v1/WatchlistMembers/{id}")).json(),
        created
    );

    let empty = daemon.post("/api/v1/WatchlistMembers", &json!({}));
    assert_eq!(empty.status, 201);
    assert_eq!(empty.json()["labels"], json!([]));
    assert_eq!(empty.json()["displayName"], Value::Null);

    let updated = daemon
        .put(
            "/api/v1/WatchlistMembers",
            &json!({"id": id, "fullName": "Ann Jones"}),
        )
        .json();
    assert_eq!(updated["fullName"], "Ann Jones");
    assert_eq!(
        updated["displayName"],
        Value::Null,
        "an upsert replaces every field"
    );
    assert_eq!(updated["createdAt"], created["createdAt"]);
    assert!(is_rfc3339(&updated["updatedAt"]));

    assert_eq!(
        daemon
            .delete(&format!("/api/v1/WatchlistMembers/{id}"))
            .status,
        204
    );
    problem(&daemon.get(&format!("/api/v1/WatchlistMembers/{id}")), 404);
    problem(
        &daemon.delete(&format!("/api/v1/WatchlistMembers/{id}")),
        404,
    );
}

#[test]
fn paging_follows_links_through_every_item_once_in_creation_order() {
    let daemon = Daemon::start();
    let created: Vec<String> = (0..23)
        .map(|i| {
            create_watchlist(&daemon, &format!("w{i}"))["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        walk_pages(&daemon, "/api/v1/Watchlists?PageSize=5"),
        created
    );
    let mut reversed = created.clone();
    reversed.reverse();
    assert_eq!(
        walk_pages(&daemon, "/api/v1/Watchlists?PageSize=7&Ascending=false"),
        reversed
    );

    let page = daemon
        .get("/api/v1/Watchlists?PageNumber=3&PageSize=5&ShowTotalCount=true")
        .json();
    assert_eq!(page["totalItemsCount"], 23);
    assert_eq!(page["pageNumber"], 3);
    assert_eq!(page["pageSize"], 5);
    let previous = page["previousPage"].as_str().unwrap();
    let back = daemon.get(previous).json();
    assert_eq!(back["pageNumber"], 2);
    assert_eq!(back["items"][0]["id"], created[5].as_str());

    let default_page = daemon.get("/api/v1/Watchlists").json();
    assert_eq!(default_page["pageNumber"], 1);
    assert_eq!(default_page["items"].as_array().unwrap().len(), 10);
    assert_eq!(default_page["totalItemsCount"], Value::Null);
    assert_eq!(default_page["previousPage"], Value::Null);

    let beyond = daemon
        .get("/api/v1/Watchlists?PageNumber=99&PageSize=5")
        .json();
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["nextPage"], Value::Null);

    let members: Vec<String> = (0..12)
        .map(|i| {
            put_member(&daemon, &format!("m{i:02}"))["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        walk_pages(&daemon, "/api/v1/WatchlistMembers?pagesize=5"),
        members
    );
}

#[test]
fn bad_paging_parameters_are_400_naming_the_parameter() {
    let daemon = Daemon::start();
    for (query, field) in [
        ("PageNumber=0", "PageNumber"),
        ("PageNumber=-1", "PageNumber"),
        ("PageNumber=abc", "PageNumber"),
        ("PageNumber=2147483648", "PageNumber"),
        ("PageSize=0", "PageSize"),
        ("PageSize=1001", "PageSize"),
        ("Ascending=maybe", "Ascending"),
        ("ShowTotalCount=2", "ShowTotalCount"),
    ] {
        for path in ["/api/v1/Watchlists", "/api/v1/WatchlistMembers"] {
            let body = problem(&daemon.get(&format!("{path}?{query}")), 400);
            assert!(body["errors"][field].is_array(), "{query}: {body}");
        }
    }
    assert_eq!(daemon.get("/api/v1/Watchlists?PageSize=1000").status, 200);
}

#[test]
fn invalid_bodies_are_400_naming_the_field() {
    let daemon = Daemon::start();
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"fullName": "f"}),
            "displayName",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": null, "fullName": "f"}),
            "displayName",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d"}),
            "fullName",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": long(201), "fullName": "f"}),
            "displayName",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": {"text": "d"}, "fullName": "f"}),
            "displayName",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f", "threshold": 101}),
            "threshold",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f", "threshold": -1}),
            "threshold",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f", "threshold": "forty"}),
            "threshold",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f", "previewColor": "red"}),
            "previewColor",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f", "previewColor": "#12345"}),
            "previewColor",
        ),
        (
            "PUT",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f"}),
            "id",
        ),
        (
            "PUT",
            "/api/v1/Watchlists",
            json!({"id": "", "displayName": "d", "fullName": "f"}),
            "id",
        ),
        (
            "PUT",
            "/api/v1/Watchlists",
            json!({"id": "a\nb", "displayName": "d", "fullName": "f"}),
            "id",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers",
            json!({"fullName": long(201)}),
            "fullName",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers",
            json!({"labels": [{"key": long(129)}]}),
            "labels[0].key",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers",
            json!({"labels": [{"key": "k"}, {"value": long(257)}]}),
            "labels[1].value",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers",
            json!({"labels": ["k"]}),
            "labels[0]",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers",
            json!({"labels": {"key": "k"}}),
            "labels",
        ),
        (
            "PUT",
            "/api/v1/WatchlistMembers",
            json!({"displayName": "d"}),
            "id",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            json!({"watchlistMembersIds": ["a"]}),
            "watchlistId",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            json!({"watchlistId": "w"}),
            "watchlistMembersIds",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            json!({"watchlistId": "w", "watchlistMembersIds": []}),
            "watchlistMembersIds",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers/UnlinkFromWatchlist",
            json!({"watchlistId": "w", "watchlistMembersIds": [[1]]}),
            "watchlistMembersIds[0]",
        ),
    ];
    for (method, path, body, field) in cases {
        let reply = daemon.call(method, path, Some(&body));
        let details = problem(&reply, 400);
        assert!(
            details["errors"][field].is_array(),
            "{method} {path} {body}: expected errors.{field} in {details}"
        );
    }
    // Boundary values are accepted.
    let ok = daemon.post(
        "/api/v1/Watchlists",
        &json!({"displayName": long(200), "fullName": "", "threshold": 0, "previewColor": "#ABC"}),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let ok = daemon.post(
        "/api/v1/WatchlistMembers",
        &json!({"labels": [{"key": long(128), "value": long(256)}]}),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Nothing invalid was stored.
    let listed = daemon.get("/api/v1/Watchlists?ShowTotalCount=true").json();
    assert_eq!(listed["totalItemsCount"], 1);
}

#[test]
fn malformed_bodies_and_content_types_are_clean_4xx() {
    let daemon = Daemon::start();
    let json_type = [("Content-Type", "application/json")];
    for body in [
        &b""[..],
        b"   ",
        b"{",
        b"[1,2]",
        b"\"text\"",
        b"null",
        b"\xff\xfe",
        b"{\"displayName\":\"a\",}",
    ] {
        let reply = daemon.raw("POST", "/api/v1/Watchlists", &json_type, body);
        problem(&reply, 400);
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    problem(
        &daemon.raw(
            "POST",
            "/api/v1/WatchlistMembers",
            &json_type,
            deep.as_bytes(),
        ),
        400,
    );

    let body = br#"{"displayName":"a","fullName":"b"}"#;
    problem(
        &daemon.raw(
            "POST",
            "/api/v1/Watchlists",
            &[("Content-Type", "text/plain")],
            body,
        ),
        415,
    );
    problem(&daemon.raw("POST", "/api/v1/Watchlists", &[], body), 415);
    problem(
        &daemon.raw(
            "PUT",
            "/api/v1/WatchlistMembers",
            &[("Content-Type", "application/xml")],
            body,
        ),
        415,
    );
    for accepted in [
        "text/json",
        "application/json-patch+json",
        "application/*+json",
        "application/json; charset=utf-8",
    ] {
        let reply = daemon.raw(
            "POST",
            "/api/v1/Watchlists",
            &[("Content-Type", accepted)],
            body,
        );
        assert_eq!(reply.status, 201, "{accepted}: {}", reply.body);
    }
}

#[test]
fn unknown_fields_are_ignored_and_property_names_match_any_case() {
    let daemon = Daemon::start();
    let reply = daemon.post(
        "/api/v1/Watchlists",
        &json!({"DisplayName": "A", "FULLNAME": "B", "Threshold": 12, "id": "ignored",
                "somethingNew": {"nested": [1, 2]}}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.json();
    assert_eq!(created["displayName"], "A");
    assert_eq!(created["fullName"], "B");
    assert_eq!(created["threshold"], 12);
    assert_eq!(keys(&created), sorted(WATCHLIST_FIELDS));
}

#[test]
fn paths_match_case_insensitively_with_or_without_trailing_slash() {
    let daemon = Daemon::start();
    let id = create_watchlist(&daemon, "W")["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        format!("/api/v1/watchlists/{id}"),
        format!("/API/V1/WATCHLISTS/{id}/"),
        format!("/api/v1/Watchlists/{id}"),
    ] {
        assert_eq!(daemon.get(&path).status, 200, "{path}");
    }
    assert_eq!(daemon.get("/api/v1/version/").status, 200);
    assert_eq!(daemon.get("/Api/V1/WatchlistMembers/").status, 200);
    put_member(&daemon, "m");
    assert_eq!(link(&daemon, &id, &["m"]), 204);
    let reply = daemon.post(
        "/api/v1/watchlistmembers/unlinkfromwatchlist/",
        &json!({"watchlistId": id, "watchlistMembersIds": ["m"]}),
    );
    assert_eq!(reply.status, 204);
    // Ids themselves are case-sensitive.
    problem(
        &daemon.get(&format!("/api/v1/Watchlists/{}", id.to_uppercase())),
        404,
    );
}

#[test]
fn ids_with_reserved_characters_round_trip_through_paths_and_links() {
    let daemon = Daemon::start();
    let id = "odd/id with?&#%chars";
    let reply = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": id, "displayName": "d", "fullName": "f"}),
    );
    assert_eq!(reply.status, 200);
    let escaped = "odd%2Fid%20with%3F%26%23%25chars";
    assert_eq!(
        daemon.get(&format!("/api/v1/Watchlists/{escaped}")).json()["id"],
        id
    );
    put_member(&daemon, "m1");
    put_member(&daemon, "m2");
    assert_eq!(link(&daemon, id, &["m1", "m2"]), 204);
    let listed = walk_pages(
        &daemon,
        &format!("/api/v1/Watchlists/{escaped}/WatchlistMembers?PageSize=1"),
    );
    assert_eq!(listed, vec!["m1", "m2"]);
}

#[test]
fn unknown_endpoints_are_404_and_wrong_methods_405() {
    let daemon = Daemon::start();
    problem(&daemon.get("/api/v1/Nothing"), 404);
    // "/" is the console; any other path outside the API is not found.
    problem(&daemon.get("/nothing"), 404);
    problem(&daemon.get("/api/v1/Watchlists/a/b/c"), 404);
    let reply = daemon.raw("PATCH", "/api/v1/Watchlists", &[], b"");
    problem(&reply, 405);
    problem(
        &daemon.call("POST", "/api/v1/Version", Some(&json!({}))),
        405,
    );
    let reply = daemon.get("/api/v1/WatchlistMembers/LinkToWatchlist");
    problem(&reply, 405);
    assert_eq!(reply.header("Allow"), Some("POST"));
}

#[test]
fn linking_is_all_or_nothing_and_unlinking_keeps_members() {
    let daemon = Daemon::start();
    let watchlist = create_watchlist(&daemon, "W")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = create_watchlist(&daemon, "Other")["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in ["a", "b", "c"] {
        put_member(&daemon, id);
    }
    let members_of =
        |w: &str| walk_pages(&daemon, &format!("/api/v1/Watchlists/{w}/WatchlistMembers"));

    problem(
        &daemon.post(
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            &json!({"watchlistId": watchlist, "watchlistMembersIds": ["a", "ghost"]}),
        ),
        404,
    );
    assert!(
        members_of(&watchlist).is_empty(),
        "a failed link links nobody"
    );
    problem(
        &daemon.post(
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            &json!({"watchlistId": "no-such-watchlist", "watchlistMembersIds": ["a"]}),
        ),
        404,
    );

    assert_eq!(link(&daemon, &watchlist, &["c", "a"]), 204);
    assert_eq!(
        link(&daemon, &watchlist, &["a", "b"]),
        204,
        "linking twice is harmless"
    );
    assert_eq!(link(&daemon, &other, &["a"]), 204);
    assert_eq!(
        members_of(&watchlist),
        vec!["a", "b", "c"],
        "members in creation order"
    );
    let counted = daemon
        .get(&format!(
            "/api/v1/Watchlists/{watchlist}/WatchlistMembers?ShowTotalCount=true"
        ))
        .json();
    assert_eq!(counted["totalItemsCount"], 3);

    let reply = daemon.post(
        "/api/v1/WatchlistMembers/UnlinkFromWatchlist",
        &json!({"watchlistId": watchlist, "watchlistMembersIds": ["b"]}),
    );
    assert_eq!(reply.status, 204);
    assert_eq!(members_of(&watchlist), vec!["a", "c"]);
    assert_eq!(daemon.get("/api/v1/WatchlistMembers/b").status, 200);
    problem(
        &daemon.get("/api/v1/Watchlists/ghost/WatchlistMembers"),
        404,
    );
}

#[test]
fn deleting_a_watchlist_keeps_its_members_and_deleting_a_member_drops_its_links() {
    let daemon = Daemon::start();
    let doomed = create_watchlist(&daemon, "Doomed")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = create_watchlist(&daemon, "Kept")["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_member(&daemon, "a");
    put_member(&daemon, "b");
    assert_eq!(link(&daemon, &doomed, &["a", "b"]), 204);
    assert_eq!(link(&daemon, &kept, &["a", "b"]), 204);

    assert_eq!(
        daemon
            .delete(&format!("/api/v1/Watchlists/{doomed}"))
            .status,
        204
    );
    assert_eq!(daemon.get("/api/v1/WatchlistMembers/a").status, 200);
    assert_eq!(daemon.get("/api/v1/WatchlistMembers/b").status, 200);
    assert_eq!(
        walk_pages(
            &daemon,
            &format!("/api/v1/Watchlists/{kept}/WatchlistMembers")
        ),
        vec!["a", "b"]
    );

    assert_eq!(daemon.delete("/api/v1/WatchlistMembers/a").status, 204);
    assert_eq!(
        walk_pages(
            &daemon,
            &format!("/api/v1/Watchlists/{kept}/WatchlistMembers")
        ),
        vec!["b"]
    );
    // A re-created member with the same id starts with no links.
    put_member(&daemon, "a");
    assert_eq!(
        walk_pages(
            &daemon,
            &format!("/api/v1/Watchlists/{kept}/WatchlistMembers")
        ),
        vec!["b"]
    );
    // A re-created watchlist with the old id starts empty.
    let reply = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": doomed, "displayName": "d", "fullName": "f"}),
    );
    assert_eq!(reply.status, 200);
    assert!(walk_pages(
        &daemon,
        &format!("/api/v1/Watchlists/{doomed}/WatchlistMembers")
    )
    .is_empty());
}

#[test]
fn bodies_over_the_configured_cap_are_413_and_change_nothing() {
    let daemon = Daemon::start_with_config("[server]\nmax_body_bytes = 4096\n");
    let note = "x".repeat(5000);
    let body = json!({"id": "big", "note": note});
    problem(&daemon.put("/api/v1/WatchlistMembers", &body), 413);
    problem(&daemon.get("/api/v1/WatchlistMembers/big"), 404);
    let small = daemon.put(
        "/api/v1/WatchlistMembers",
        &json!({"id": "small", "note": "x"}),
    );
    assert_eq!(
        small.status, 200,
        "the server still serves after refusing a body"
    );
}

const API_KEY: &str = "s3cret";

/// Headers that must not get through, and ones that must.
const WRONG_KEYS: [&[(&str, &str)]; 6] = [
    &[],
    &[("Authorization", "Bearer wrong")],
    &[("Authorization", "Bearer s3cre")],
    &[("Authorization", "Basic s3cret")],
    &[("X-Api-Key", "wrong")],
    &[("X-Api-Key", "s3cret2")],
];
const RIGHT_KEYS: [&[(&str, &str)]; 3] = [
    &[("Authorization", "Bearer s3cret")],
    &[("authorization", "bearer s3cret")],
    &[("X-Api-Key", "s3cret")],
];

/// A request with `headers`, and a JSON body unless `body` is null.
fn send(
    daemon: &Daemon,
    method: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut headers = headers.to_vec();
    let body = match body {
        Value::Null => Vec::new(),
        body => {
            headers.push(("Content-Type", "application/json"));
            body.to_string().into_bytes()
        }
    };
    daemon.raw(method, path, &headers, &body)
}

/// The status and headers (names in lower case) of `GET path` sent with
/// `headers` on a raw connection, which may then stay open: for the live
/// event stream, whose body never ends.
fn response_head(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "GET {path} {headers:?}: {other:?} after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers)
}

#[test]
fn an_api_key_guards_every_route_and_either_header_carries_it() {
    let data = tempfile::tempdir().unwrap();
    // The edge loop sees one face, so that there is an event and its crop:
    // one frame decides, whether it comes before the member is registered
    // (a stranger) or after (a member).
    let scene = tempfile::tempdir().unwrap();
    std::fs::copy(
        artifacts().join("testdata/obama.jpg"),
        scene.path().join("0.jpg"),
    )
    .unwrap();
    let daemon = Daemon::start_in_with_args(
        data.path(),
        Some(&format!(
            "[server]\napi_key = \"{API_KEY}\"\n[edge]\nevidence_frames = 1\n"
        )),
        &[
            "--camera",
            &format!("replay:{}", scene.path().display()),
            "--relay",
            "fake",
        ],
    );
    let key = RIGHT_KEYS[2];
    let watchlist = json!({"id": "w", "displayName": "W", "fullName": "W"});
    assert_eq!(
        send(&daemon, "PUT", "/api/v1/Watchlists", &watchlist, key).status,
        200
    );
    let registered = send(
        &daemon,
        "POST",
        "/api/v1/WatchlistMembers/Register",
        &json!({"id": "m", "images": [{"data": photo_base64("obama.jpg")}], "watchlistIds": ["w"]}),
        key,
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
    let image_id = registered.json()["faces"][0]["imageDataId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = Value::Null;
    wait_until(Duration::from_secs(60), "an edge event", || {
        events = send(&daemon, "GET", "/api/facegate/v1/Events", &Value::Null, key).json();
        events["items"][0]["cropUrl"].is_string()
    });
    let crop = events["items"][0]["cropUrl"].as_str().unwrap().to_string();

    let photo = json!({"data": photo_base64("obama2.jpg")});
    let routes = [
        ("GET", "/api/v1/Version".to_string(), Value::Null, 200),
        ("GET", "/api/v1/Watchlists".into(), Value::Null, 200),
        ("PUT", "/api/v1/Watchlists".into(), watchlist.clone(), 200),
        ("GET", "/api/v1/Watchlists/w".into(), Value::Null, 200),
        (
            "GET",
            "/api/v1/Watchlists/w/WatchlistMembers".into(),
            Value::Null,
            200,
        ),
        (
            "POST",
            "/api/v1/Watchlists/Search".into(),
            json!({"image": photo}),
            200,
        ),
        ("GET", "/api/v1/WatchlistMembers".into(), Value::Null, 200),
        (
            "PUT",
            "/api/v1/WatchlistMembers".into(),
            json!({"id": "m2"}),
            200,
        ),
        ("GET", "/api/v1/WatchlistMembers/m".into(), Value::Null, 200),
        (
            "GET",
            "/api/v1/WatchlistMembers/m/Faces".into(),
            Value::Null,
            200,
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers/LinkToWatchlist".into(),
            json!({"watchlistId": "w", "watchlistMembersIds": ["m"]}),
            204,
        ),
        (
            "POST",
            "/api/v1/Faces/Verify".into(),
            json!({"probeImage": {"image": photo}, "referenceImage": {"image": photo}}),
            200,
        ),
        (
            "POST",
            "/api/v1/Faces/SpoofCheck".into(),
            json!({"image": photo}),
            200,
        ),
        (
            "GET",
            format!("/api/v1/Images/{image_id}"),
            Value::Null,
            200,
        ),
        ("GET", "/api/facegate/v1/Status".into(), Value::Null, 200),
        ("GET", "/api/facegate/v1/Config".into(), Value::Null, 200),
        ("GET", "/api/facegate/v1/Events".into(), Value::Null, 200),
        ("GET", crop, Value::Null, 200),
        // Unknown paths too: a refusal does not reveal what exists.
        ("GET", "/api/v1/Nothing".into(), Value::Null, 404),
    ];
    for (method, path, body, status) in &routes {
        for headers in WRONG_KEYS {
            let refused = send(&daemon, method, path, body, headers);
            let details = problem(&refused, 401);
            assert!(
                details["detail"].as_str().unwrap().contains("Bearer"),
                "{details}"
            );
            assert_eq!(
                refused.header("WWW-Authenticate"),
                Some("Bearer"),
                "{method} {path} {headers:?}"
            );
        }
        for headers in RIGHT_KEYS {
            let accepted = send(&daemon, method, path, body, headers);
            assert_eq!(
                accepted.status, *status,
                "{method} {path} {headers:?}: {}",
                accepted.body
            );
        }
    }
    // The console's page loads without the key: it asks for it.
    let page = daemon.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"key-dialog\""));
    // The live event stream: only its head is read.
    let stream = "/api/facegate/v1/Events/Stream";
    for headers in WRONG_KEYS {
        let (status, head) = response_head(&daemon.base, stream, headers);
        assert_eq!(status, 401, "{headers:?}");
        assert!(
            head.contains(&("www-authenticate".into(), "Bearer".into())),
            "{head:?}"
        );
    }
    for headers in RIGHT_KEYS {
        let (status, head) = response_head(&daemon.base, stream, headers);
        assert_eq!(status, 200, "{headers:?}");
        assert!(
            head.contains(&("content-type".into(), "text/event-stream".into())),
            "{head:?}"
        );
    }
    // Refused writes change nothing.
    for (method, path, body) in [
        ("DELETE", "/api/v1/WatchlistMembers/m", Value::Null),
        ("DELETE", "/api/v1/Watchlists/w", Value::Null),
        ("PUT", "/api/v1/WatchlistMembers", json!({"id": "intruder"})),
    ] {
        problem(&send(&daemon, method, path, &body, WRONG_KEYS[1]), 401);
    }
    for (path, status) in [
        ("/api/v1/WatchlistMembers/m", 200),
        ("/api/v1/Watchlists/w", 200),
        ("/api/v1/WatchlistMembers/intruder", 404),
    ] {
        assert_eq!(
            send(&daemon, "GET", path, &Value::Null, key).status,
            status,
            "{path}"
        );
    }
}

#[test]
fn concurrent_upserts_and_links_lose_no_update() {
    let daemon = std::sync::Arc::new(Daemon::start());
    let watchlist = create_watchlist(&daemon, "Shared")["id"]
        .as_str()
        .unwrap()
        .to_string();
    const THREADS: usize = 8;
    const PER_THREAD: usize = 25;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let daemon = daemon.clone();
            let watchlist = watchlist.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let id = format!("t{t}-m{i}");
                    put_member(&daemon, &id);
                    assert_eq!(link(&daemon, &watchlist, &[&id]), 204);
                    // Every thread also rewrites one shared member.
                    let shared = json!({"id": "shared", "note": format!("{t}-{i}")});
                    assert_eq!(daemon.put("/api/v1/WatchlistMembers", &shared).status, 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let page = daemon
        .get(&format!(
            "/api/v1/Watchlists/{watchlist}/WatchlistMembers?ShowTotalCount=true&PageSize=1000"
        ))
        .json();
    assert_eq!(page["totalItemsCount"], THREADS * PER_THREAD);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        THREADS * PER_THREAD
    );
    let all = daemon
        .get("/api/v1/WatchlistMembers?ShowTotalCount=true")
        .json();
    assert_eq!(all["totalItemsCount"], THREADS * PER_THREAD + 1);
    let note = daemon.get("/api/v1/WatchlistMembers/shared").json()["note"].clone();
    assert!(
        note.as_str()
            .unwrap()
            .ends_with(&format!("-{}", PER_THREAD - 1)),
        "{note}"
    );
}
