//! The index, the store and the API agree: what a client deletes is gone
//! from search and from storage, and nothing else is.

mod common;

use common::{photo_base64, problem, Daemon};
use serde_json::{json, Value};

/// The ids of the members that Search finds for `photo` in `watchlists`
/// (all when empty).
fn found(daemon: &Daemon, photo: &str, watchlists: &[&str]) -> Vec<String> {
    let body = json!({"image": {"data": photo_base64(photo)}, "watchlistIds": watchlists,
                      "maxResultCount": 10});
    let reply = daemon.post("/api/v1/Watchlists/Search", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()[0]["matchResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["watchlistMemberId"].as_str().unwrap().to_string())
        .collect()
}

fn put(daemon: &Daemon, path: &str, body: Value) {
    let reply = daemon.put(path, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn deleting_one_watchlist_keeps_another_watchlists_members_findable() {
    let daemon = Daemon::start();
    daemon.enrol("amember", "biden.jpg", "A");
    daemon.enrol("bmember", "obama.jpg", "B");
    assert_eq!(found(&daemon, "obama2.jpg", &["B"]), ["bmember"]);
    assert_eq!(daemon.delete("/api/v1/Watchlists/A").status, 204);
    put(
        &daemon,
        "/api/v1/Watchlists",
        json!({"id": "C", "displayName": "C", "fullName": "C"}),
    );
    put(
        &daemon,
        "/api/v1/WatchlistMembers",
        json!({"id": "cmember"}),
    );
    let link = json!({"watchlistId": "C", "watchlistMembersIds": ["cmember"]});
    let reply = daemon.post("/api/v1/WatchlistMembers/LinkToWatchlist", &link);
    assert_eq!(reply.status, 204);
    assert_eq!(daemon.delete("/api/v1/Watchlists/C").status, 204);
    assert_eq!(found(&daemon, "obama2.jpg", &["B"]), ["bmember"]);
    assert_eq!(found(&daemon, "obama2.jpg", &[]), ["bmember"]);
}

/// The image id of the member's only face.
fn only_face_image(daemon: &Daemon, member: &str) -> String {
    let faces = daemon
        .get(&format!("/api/v1/WatchlistMembers/{member}/Faces"))
        .json();
    let items = faces["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{faces}");
    items[0]["imageDataId"].as_str().unwrap().to_string()
}

#[test]
fn a_deleted_member_or_removed_face_leaves_no_image_behind() {
    let daemon = Daemon::start();
    daemon.enrol("gone", "obama.jpg", "staff");
    let image = only_face_image(&daemon, "gone");
    assert_eq!(daemon.get(&format!("/api/v1/Images/{image}")).status, 200);
    assert_eq!(daemon.delete("/api/v1/WatchlistMembers/gone").status, 204);
    problem(&daemon.get(&format!("/api/v1/Images/{image}")), 404);

    daemon.enrol("kept", "obama2.jpg", "staff");
    let added = daemon.post(
        "/api/v1/WatchlistMembers/kept/AddNewFace",
        &json!({"imageData": {"data": photo_base64("obama3.jpg")}}),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let removed_face = added.json()["id"].as_str().unwrap().to_string();
    let removed_image = added.json()["imageDataId"].as_str().unwrap().to_string();
    let reply = daemon.post(
        "/api/v1/WatchlistMembers/kept/RemoveFace",
        &json!({"faceId": removed_face}),
    );
    assert_eq!(reply.status, 204);
    problem(&daemon.get(&format!("/api/v1/Images/{removed_image}")), 404);
    let kept_image = only_face_image(&daemon, "kept");
    assert_eq!(
        daemon.get(&format!("/api/v1/Images/{kept_image}")).status,
        200
    );
}
