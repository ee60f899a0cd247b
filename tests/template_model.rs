//! `engine.template_model`: a recognition network of the user's own,
//! described by a manifest, here OpenCV's SFace (models/templates/sface.toml,
//! its ONNX file from `scripts/fetch-artifacts.sh --test`). Switching to it
//! re-computes the stored templates; it serves Verify and Search on its own
//! score scale; a manifest that is not calibrated, or whose file is not the
//! one it names, is refused at start.

mod common;

use common::{artifacts, photo_base64, Daemon};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const SFACE_FILE: &str = "face_recognition_sface_2021dec_int8bq.onnx";

/// The repository's SFace manifest as written.
fn sface_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/templates/sface.toml");
    std::fs::read_to_string(path).unwrap()
}

/// A template model folder holding `manifest` as sface.toml and SFace's
/// ONNX file beside it, as a user installs one.
fn templates_dir(root: &Path, manifest: &str) -> PathBuf {
    let dir = root.join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    let model = artifacts().join("test-models").join(SFACE_FILE);
    assert!(
        model.is_file(),
        "{} is missing: run scripts/setup.sh --test (or scripts/fetch-artifacts.sh --test)",
        model.display()
    );
    std::os::unix::fs::symlink(model, dir.join(SFACE_FILE)).unwrap();
    std::fs::write(dir.join("sface.toml"), manifest).unwrap();
    dir
}

fn sface_engine_lines(templates: &Path) -> String {
    format!("template_model = \"sface\"\ntemplate_models = {templates:?}")
}

fn verify(daemon: &Daemon, probe: &str, reference: &str) -> f64 {
    let body = json!({
        "probeImage": {"image": {"data": photo_base64(probe)}},
        "referenceImage": {"image": {"data": photo_base64(reference)}},
    });
    let reply = daemon.post("/api/v1/Faces/Verify", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["confidence"].as_f64().unwrap()
}

fn best_match(daemon: &Daemon, photo: &str) -> Value {
    let body =
        json!({"image": {"data": photo_base64(photo)}, "watchlistIds": [], "maxResultCount": 1});
    let reply = daemon.post("/api/v1/Watchlists/Search", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()[0]["matchResults"][0].clone()
}

fn engine_status(daemon: &Daemon) -> Value {
    let reply = daemon.get("/api/facegate/v1/Status");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["engine"].clone()
}

fn recomputed(daemon: &Daemon, count: usize) -> bool {
    let wanted = format!("{count} templates re-computed, 0 could not be");
    daemon.startup_log.iter().any(|l| l.contains(&wanted))
}

#[test]
fn members_enrolled_under_faceplugin_are_found_under_sface_and_verify_separates_people() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let templates = templates_dir(root.path(), &sface_manifest());
    let daemon = Daemon::start_in(&data, None);
    let faceplugin = engine_status(&daemon)["templateModel"].clone();
    daemon.enrol("obama", "obama.jpg", "staff");
    daemon.enrol("biden", "biden.jpg", "staff");
    drop(daemon);

    let daemon = Daemon::start_in_with_engine(&data, &sface_engine_lines(&templates));
    let engine = engine_status(&daemon);
    let model = engine["templateModel"].as_str().unwrap();
    assert!(model.starts_with("sface-int8-fb143eea"), "{model}");
    assert_ne!(engine["templateModel"], faceplugin);
    let networks = engine["networks"].as_array().unwrap();
    assert!(networks.iter().any(|n| n["name"] == "sface"), "{engine}");
    assert!(
        networks.iter().all(|n| n["name"] != "fr_feature"),
        "{engine}"
    );
    assert!(recomputed(&daemon, 2), "{:?}", daemon.startup_log);

    let found = best_match(&daemon, "obama2.jpg");
    assert_eq!(found["watchlistMemberId"], "obama", "{found}");
    assert!(found["score"].as_i64().unwrap() >= 40, "{found}");
    assert_eq!(
        best_match(&daemon, "biden.jpg")["watchlistMemberId"],
        "biden"
    );
    let (same, different) = (
        verify(&daemon, "obama.jpg", "obama2.jpg"),
        verify(&daemon, "obama.jpg", "biden.jpg"),
    );
    assert!(
        same >= 60.0 && different < 20.0,
        "same {same}, different {different}"
    );
    drop(daemon);

    // Back to the built-in network: the same templates again.
    let daemon = Daemon::start_in(&data, None);
    assert_eq!(engine_status(&daemon)["templateModel"], faceplugin);
    assert!(recomputed(&daemon, 2), "{:?}", daemon.startup_log);
    assert_eq!(
        best_match(&daemon, "obama3.jpg")["watchlistMemberId"],
        "obama"
    );
}

/// The daemon's complaint about starting with `manifest` as sface.toml.
fn refusal(manifest: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    let templates = templates_dir(root.path(), manifest);
    let text = format!(
        "{}{}\n[storage]\ndata_dir = {:?}\n",
        common::engine_config(),
        sface_engine_lines(&templates),
        root.path().join("data")
    );
    common::refused_config(&text)
}

#[test]
fn an_uncalibrated_manifest_or_one_whose_file_was_swapped_is_refused_at_start() {
    let manifest = sface_manifest();
    let at = manifest
        .find("\n[calibration]")
        .expect("the SFace manifest is calibrated");
    let stderr = refusal(&manifest[..=at]);
    assert!(
        stderr.contains("facegate bench calibrate --into"),
        "{stderr}"
    );

    let pin = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee";
    let stderr = refusal(&manifest.replace(pin, &"0".repeat(64)));
    assert!(
        stderr.contains(SFACE_FILE) && stderr.contains("the manifest says"),
        "{stderr}"
    );

    let stderr = refusal(&manifest.replace("name = \"sface\"", "name = \"other\""));
    assert!(stderr.contains("names itself `other`"), "{stderr}");
}
