//! `engine.precision` and the face-data migration: templates made by one
//! template model are re-computed from the stored images when the daemon
//! starts with another, before it serves search.

mod common;

use common::{photo_base64, Daemon};
use serde_json::{json, Value};

fn search(daemon: &Daemon, photo: &str) -> Value {
    let body =
        json!({"image": {"data": photo_base64(photo)}, "watchlistIds": [], "maxResultCount": 1});
    let reply = daemon.post("/api/v1/Watchlists/Search", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()[0]["matchResults"][0].clone()
}

fn status(daemon: &Daemon) -> Value {
    let reply = daemon.get("/api/facegate/v1/Status");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["engine"].clone()
}

/// The precision the status reports for `network`.
fn precision(engine: &Value, network: &str) -> String {
    let networks = engine["networks"].as_array().unwrap();
    let found = networks.iter().find(|n| n["name"] == network).unwrap();
    found["precision"].as_str().unwrap().to_string()
}

fn migration_lines(daemon: &Daemon) -> Vec<&String> {
    let lines = daemon.startup_log.iter();
    lines
        .filter(|l| l.contains("face-data migration"))
        .collect()
}

/// Obama's and Biden's templates were re-computed at this start, and each
/// is found again by another photo.
fn assert_both_recomputed_and_found(daemon: &Daemon) {
    let log = migration_lines(daemon);
    assert!(
        log.iter()
            .any(|l| l.contains("2 templates re-computed, 0 could not be")),
        "{log:?}"
    );
    let found = search(daemon, "obama2.jpg");
    assert_eq!(found["watchlistMemberId"], "obama", "{found}");
    assert!(found["score"].as_i64().unwrap() >= 40, "{found}");
    assert_eq!(search(daemon, "biden.jpg")["watchlistMemberId"], "biden");
}

#[test]
fn members_enrolled_under_fp32_are_found_after_a_restart_under_int8_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in_with_engine(dir.path(), "precision = \"fp32\"");
    let fp32 = status(&daemon);
    assert_eq!(precision(&fp32, "fr_feature"), "fp32");
    daemon.enrol("obama", "obama.jpg", "staff");
    daemon.enrol("biden", "biden.jpg", "staff");
    assert!(migration_lines(&daemon).is_empty());
    drop(daemon);

    let daemon = Daemon::start_in_with_engine(dir.path(), "precision = \"int8\"");
    let int8 = status(&daemon);
    // "int8" runs the template network int8 and keeps the networks that
    // were no faster in int8 (the liveness one among them) in fp32.
    assert_eq!(precision(&int8, "fr_feature"), "int8");
    assert_eq!(precision(&int8, "fr_liveness"), "fp32");
    assert_ne!(int8["templateModel"], fp32["templateModel"]);
    let log = migration_lines(&daemon);
    assert!(
        log.iter().any(|l| l.contains("re-computing 2 templates")),
        "{log:?}"
    );
    assert_both_recomputed_and_found(&daemon);
    drop(daemon);

    // Nothing left to do under the same model; back to fp32, all again.
    let daemon = Daemon::start_in_with_engine(dir.path(), "precision = \"int8\"");
    assert!(migration_lines(&daemon).is_empty());
    drop(daemon);
    let daemon = Daemon::start_in_with_engine(dir.path(), "precision = \"fp32\"");
    assert_eq!(status(&daemon)["templateModel"], fp32["templateModel"]);
    assert!(migration_lines(&daemon)
        .iter()
        .any(|l| l.contains("2 templates re-computed")));
    assert_eq!(search(&daemon, "obama3.jpg")["watchlistMemberId"], "obama");
}

#[test]
fn members_enrolled_under_landmark_alignment_are_found_after_a_restart_under_mtcnn() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in_with_engine(dir.path(), "alignment = \"landmarks\"");
    let landmarks = status(&daemon);
    let networks = landmarks["networks"].as_array().unwrap();
    assert!(networks.iter().all(|n| n["name"] != "mtcnn_onet"));
    daemon.enrol("obama", "obama.jpg", "staff");
    daemon.enrol("biden", "biden.jpg", "staff");
    drop(daemon);

    // The default aligns by MTCNN's points: another template model.
    let daemon = Daemon::start_in(dir.path(), None);
    let mtcnn = status(&daemon);
    assert_eq!(precision(&mtcnn, "mtcnn_onet"), "fp32");
    let model = mtcnn["templateModel"].as_str().unwrap();
    assert!(model.contains("+mtcnn-"), "{model}");
    assert_ne!(mtcnn["templateModel"], landmarks["templateModel"]);
    assert_both_recomputed_and_found(&daemon);
}

#[test]
fn a_per_network_table_mixes_precisions_and_an_unknown_network_is_refused() {
    let daemon =
        Daemon::start_with_engine("precision = { default = \"int8\", fr_feature = \"fp32\" }");
    let engine = status(&daemon);
    assert_eq!(precision(&engine, "fr_feature"), "fp32");
    assert_eq!(precision(&engine, "fr_detect"), "int8");
    assert_eq!(precision(&engine, "fr_age"), "int8");
    drop(daemon);

    let text = format!(
        "{}precision = {{ fr_face = \"int8\" }}\n",
        common::engine_config()
    );
    let stderr = common::refused_config(&text);
    assert!(
        stderr.contains("engine.precision") && stderr.contains("fr_face"),
        "{stderr}"
    );
}
