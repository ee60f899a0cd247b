//! Execution providers on the real binary with the CPU build of ONNX
//! Runtime (the PyPI wheel): a provider it lacks, alone, stops the daemon
//! at start with a message naming it and the library; behind a fallback,
//! the networks run on the fallback and the status says so.

mod common;

use std::process::Command;

fn library() -> String {
    common::artifacts()
        .join("onnxruntime/libonnxruntime.so")
        .display()
        .to_string()
}

#[test]
fn a_provider_the_library_lacks_with_no_fallback_stops_the_daemon_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cuda.toml");
    let engine = common::engine_config();
    std::fs::write(
        &config,
        format!("{engine}execution_providers = [\"cuda\"]\n"),
    )
    .unwrap();
    let output = Command::new(common::BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("has no cuda execution provider") && stderr.contains(&library()),
        "{stderr}"
    );
}

#[test]
fn a_provider_the_library_lacks_falls_back_to_the_next_with_a_warning() {
    let daemon = common::Daemon::start_with_engine("execution_providers = [\"cuda\", \"cpu\"]");
    let warned = daemon
        .startup_log
        .iter()
        .any(|line| line.contains("WARN") && line.contains("has no [\"cuda\"] execution provider"));
    assert!(warned, "{}", daemon.startup_log.join("\n"));
    let status = daemon.get("/api/facegate/v1/Status").json();
    let engine = &status["engine"];
    assert_eq!(engine["runtimeLibrary"], library(), "{status}");
    let networks = engine["networks"].as_array().unwrap();
    for network in networks {
        assert_eq!(network["executionProvider"], "cpu", "{status}");
    }
    // Every network the default engine loads, the five-point aligner among them.
    let names: Vec<&str> = networks.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "fr_detect",
            "fr_landmark",
            "fr_feature",
            "fr_liveness",
            "fr_pose",
            "fr_age",
            "fr_gender",
            "mtcnn_onet"
        ],
        "{status}"
    );
    // The edge loop's counters stay where they were.
    assert!(status["framesProcessed"].is_u64(), "{status}");
}
