//! The biometric half of the API over HTTP on real photos: register,
//! faces, images, verify, spoof check and search.

mod common;

use common::{grey_png_base64, invalid_field, keys, photo_base64, problem, sorted, Daemon};
use serde_json::{json, Value};

const FACE_FIELDS: &[&str] = &[
    "age",
    "autolearnClusterType",
    "brightness",
    "createdAt",
    "cropLeftBottomX",
    "cropLeftBottomY",
    "cropLeftTopX",
    "cropLeftTopY",
    "cropRightBottomX",
    "cropRightBottomY",
    "cropRightTopX",
    "cropRightTopY",
    "faceArea",
    "faceAreaChange",
    "faceMaskConfidence",
    "faceMaskStatus",
    "faceOrder",
    "facesOnFrameCount",
    "frameId",
    "gender",
    "glassStatus",
    "heavyFrame",
    "id",
    "imageDataId",
    "leftEyeX",
    "leftEyeY",
    "noseTipConfidence",
    "pitchAngle",
    "processedAt",
    "quality",
    "rightEyeX",
    "rightEyeY",
    "rollAngle",
    "sharpness",
    "size",
    "state",
    "templateQuality",
    "tintedGlasses",
    "trackletId",
    "type",
    "updatedAt",
    "yawAngle",
];
const ATTRIBUTE_FIELDS: &[&str] = &[
    "age",
    "brightness",
    "cropLeftBottomX",
    "cropLeftBottomY",
    "cropLeftTopX",
    "cropLeftTopY",
    "cropRightBottomX",
    "cropRightBottomY",
    "cropRightTopX",
    "cropRightTopY",
    "faceArea",
    "faceMaskConfidence",
    "faceMaskStatus",
    "faceOrder",
    "faceSize",
    "gender",
    "glassStatus",
    "heavyFrame",
    "leftEyeX",
    "leftEyeY",
    "noseTipConfidence",
    "pitchAngle",
    "quality",
    "rightEyeX",
    "rightEyeY",
    "rollAngle",
    "sharpness",
    "templateQuality",
    "tintedGlasses",
    "yawAngle",
];

fn image(name: &str) -> Value {
    json!({ "data": photo_base64(name) })
}

fn watchlist(daemon: &Daemon, id: &str) {
    let reply = daemon.put(
        "/api/v1/Watchlists",
        &json!({"id": id, "displayName": id, "fullName": id}),
    );
    assert_eq!(reply.status, 200);
}

fn register(daemon: &Daemon, id: &str, photos: &[&str], watchlists: &[&str]) -> Value {
    let images: Vec<Value> = photos.iter().map(|p| image(p)).collect();
    let reply = daemon.post(
        "/api/v1/WatchlistMembers/Register",
        &json!({"id": id, "images": images, "watchlistIds": watchlists, "displayName": id}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

fn search(daemon: &Daemon, photo: &str, extra: Value) -> Vec<Value> {
    let mut body = json!({"image": image(photo), "watchlistIds": [], "maxResultCount": 5});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let reply = daemon.post("/api/v1/Watchlists/Search", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().as_array().unwrap().clone()
}

#[test]
fn register_returns_the_member_with_its_faces_and_watchlists() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    let registered = register(&daemon, "obama", &["obama.jpg", "obama2.jpg"], &["staff"]);
    assert_eq!(
        keys(&registered),
        sorted(&[
            "createdAt",
            "displayName",
            "faces",
            "fullName",
            "id",
            "labels",
            "note",
            "updatedAt",
            "watchlists"
        ])
    );
    assert_eq!(registered["watchlists"][0]["id"], "staff");
    let faces = registered["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 2);
    for face in faces {
        assert_eq!(keys(face), sorted(FACE_FIELDS));
        assert_eq!(face["state"], "Extracted");
        assert_eq!(face["type"], "Regular");
        assert!(face["templateQuality"].as_i64().unwrap() > 50);
        assert!(face["size"].as_f64().unwrap() > 200.0);
        assert!(face["leftEyeX"].as_f64().unwrap() < face["rightEyeX"].as_f64().unwrap());
    }
    // The faces are listed, paged, and their images can be fetched.
    let listed = daemon
        .get("/api/v1/WatchlistMembers/obama/Faces?ShowTotalCount=true")
        .json();
    assert_eq!(listed["totalItemsCount"], 2);
    let image_id = faces[0]["imageDataId"].as_str().unwrap();
    let original = daemon.get(&format!("/api/v1/Images/{image_id}"));
    assert_eq!(original.status, 200);
    assert_eq!(original.content_type, "image/jpeg");
    // The schema requires the id: an empty one is refused, not generated.
    let anonymous = daemon.post(
        "/api/v1/WatchlistMembers/Register",
        &json!({"id": "", "images": [image("biden.jpg")], "watchlistIds": ["staff"]}),
    );
    assert!(problem(&anonymous, 400)["errors"]["id"].is_array());
}

#[test]
fn register_refuses_duplicates_unknown_watchlists_and_faceless_images_atomically() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    register(&daemon, "obama", &["obama.jpg"], &["staff"]);
    let again = daemon.post(
        "/api/v1/WatchlistMembers/Register",
        &json!({"id": "obama", "images": [image("obama2.jpg")], "watchlistIds": ["staff"]}),
    );
    problem(&again, 409);
    let unknown = daemon.post(
        "/api/v1/WatchlistMembers/Register",
        &json!({"id": "x", "images": [image("obama2.jpg")], "watchlistIds": ["nope"]}),
    );
    problem(&unknown, 404);
    let blank = grey_png_base64();
    let faceless = daemon.post(
        "/api/v1/WatchlistMembers/Register",
        &json!({"id": "y", "images": [image("biden.jpg"), {"data": blank}], "watchlistIds": ["staff"]}),
    );
    invalid_field(&faceless, "images[1].data");
    for refused in ["x", "y"] {
        problem(
            &daemon.get(&format!("/api/v1/WatchlistMembers/{refused}")),
            404,
        );
    }
    for (body, field) in [
        (
            json!({"id": "z", "images": [], "watchlistIds": ["staff"]}),
            "images",
        ),
        (
            json!({"id": "z", "images": [image("biden.jpg")], "watchlistIds": []}),
            "watchlistIds",
        ),
        (
            json!({"id": "z", "images": [{"data": "not base64!"}], "watchlistIds": ["staff"]}),
            "images[0].data",
        ),
        (
            json!({"id": "z", "images": [{"data": "aGVsbG8="}], "watchlistIds": ["staff"]}),
            "images[0].data",
        ),
        (
            json!({"id": "z", "images": [image("biden.jpg")], "watchlistIds": ["staff"], "faceDetectorResourceId": "tpu"}),
            "faceDetectorResourceId",
        ),
        (
            json!({"id": "z", "images": [image("biden.jpg")], "watchlistIds": ["staff"], "faceDetectorResourceId": "gpu"}),
            "faceDetectorResourceId",
        ),
    ] {
        invalid_field(
            &daemon.post("/api/v1/WatchlistMembers/Register", &body),
            field,
        );
    }
    problem(&daemon.get("/api/v1/WatchlistMembers/z"), 404);
}

#[test]
fn search_finds_the_registered_person_from_another_photo_and_no_one_for_a_stranger() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    watchlist(&daemon, "visitors");
    register(&daemon, "obama", &["obama.jpg"], &["staff"]);
    register(&daemon, "biden", &["biden.jpg"], &["visitors"]);

    let found = search(&daemon, "obama2.jpg", json!({}));
    assert_eq!(found.len(), 1);
    let mut expected = sorted(ATTRIBUTE_FIELDS);
    expected.extend(["matchResults".to_string(), "spoofCheckResult".to_string()]);
    expected.sort();
    assert_eq!(keys(&found[0]), expected);
    let best = &found[0]["matchResults"][0];
    assert_eq!(best["watchlistMemberId"], "obama");
    assert_eq!(best["watchlistId"], "staff");
    assert!(best["score"].as_i64().unwrap() >= 40, "{best}");
    assert_eq!(
        found[0]["matchResults"].as_array().unwrap().len(),
        1,
        "biden scores under 40"
    );

    // Only the requested watchlists are searched.
    let elsewhere = search(&daemon, "obama3.jpg", json!({"watchlistIds": ["visitors"]}));
    assert!(elsewhere[0]["matchResults"].as_array().unwrap().is_empty());
    problem(
        &daemon.post(
            "/api/v1/Watchlists/Search",
            &json!({"image": image("obama3.jpg"), "watchlistIds": ["ghost"]}),
        ),
        404,
    );
    // Unlinked from its only watchlist, a member is found no more.
    let unlink = json!({"watchlistId": "staff", "watchlistMembersIds": ["obama"]});
    assert_eq!(
        daemon
            .post("/api/v1/WatchlistMembers/UnlinkFromWatchlist", &unlink)
            .status,
        204
    );
    assert!(search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"]
        .as_array()
        .unwrap()
        .is_empty());
    let link = json!({"watchlistId": "staff", "watchlistMembersIds": ["obama"]});
    assert_eq!(
        daemon
            .post("/api/v1/WatchlistMembers/LinkToWatchlist", &link)
            .status,
        204
    );
    assert_eq!(
        search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"][0]["watchlistMemberId"],
        "obama"
    );
    assert_eq!(daemon.delete("/api/v1/Watchlists/staff").status, 204);
    assert!(search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"]
        .as_array()
        .unwrap()
        .is_empty());
    // A stranger (Obama is not enrolled here) matches no one at 40.
    let strangers = Daemon::start();
    watchlist(&strangers, "staff");
    register(&strangers, "biden", &["biden.jpg"], &["staff"]);
    let none = search(&strangers, "obama.jpg", json!({}));
    assert!(none[0]["matchResults"].as_array().unwrap().is_empty());
    // A faceless image is a 400.
    let reply = daemon.post(
        "/api/v1/Watchlists/Search",
        &json!({"image": {"data": grey_png_base64()}}),
    );
    problem(&reply, 400);
}

#[test]
fn removed_and_deleted_faces_stop_matching_and_restarts_keep_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_in(dir.path(), None);
    watchlist(&daemon, "staff");
    let registered = register(&daemon, "obama", &["obama.jpg", "obama3.jpg"], &["staff"]);
    let faces: Vec<String> = registered["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    drop(daemon);
    let daemon = Daemon::start_in(dir.path(), None);
    assert_eq!(
        search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"][0]["watchlistMemberId"],
        "obama"
    );

    for face in &faces {
        let reply = daemon.post(
            "/api/v1/WatchlistMembers/obama/RemoveFace",
            &json!({"faceId": face}),
        );
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    problem(
        &daemon.post(
            "/api/v1/WatchlistMembers/obama/RemoveFace",
            &json!({"faceId": faces[0]}),
        ),
        404,
    );
    assert!(search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"]
        .as_array()
        .unwrap()
        .is_empty());

    let added = daemon.post(
        "/api/v1/WatchlistMembers/obama/AddNewFace",
        &json!({"imageData": image("obama.jpg")}),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(keys(&added.json()), sorted(FACE_FIELDS));
    problem(
        &daemon.post(
            "/api/v1/WatchlistMembers/ghost/AddNewFace",
            &json!({"imageData": image("obama.jpg")}),
        ),
        404,
    );
    assert_eq!(
        search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"][0]["watchlistMemberId"],
        "obama"
    );

    // Attaching an enrolled face elsewhere conflicts; an unknown face is 404.
    daemon.put("/api/v1/WatchlistMembers", &json!({"id": "other"}));
    let face_id = added.json()["id"].as_str().unwrap().to_string();
    problem(
        &daemon.post(
            "/api/v1/WatchlistMembers/other/AddFaceFromSystem",
            &json!({"faceId": face_id}),
        ),
        409,
    );
    problem(
        &daemon.post(
            "/api/v1/WatchlistMembers/other/AddFaceFromSystem",
            &json!({"faceId": "6f2b1c8e-2d3a-4b5c-9d8e-7f6a5b4c3d2e"}),
        ),
        404,
    );
    let own = daemon.post(
        "/api/v1/WatchlistMembers/obama/AddFaceFromSystem",
        &json!({"faceId": face_id}),
    );
    assert_eq!(own.status, 204);

    assert_eq!(daemon.delete("/api/v1/WatchlistMembers/obama").status, 204);
    assert!(search(&daemon, "obama2.jpg", json!({}))[0]["matchResults"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn verify_separates_the_same_person_from_different_people() {
    let daemon = Daemon::start();
    let verify = |a: &str, b: &str| {
        let reply = daemon.post(
            "/api/v1/Faces/Verify",
            &json!({"probeImage": {"image": image(a)}, "referenceImage": {"image": image(b)}}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    };
    let same = verify("obama.jpg", "obama2.jpg");
    assert_eq!(
        keys(&same),
        sorted(&["confidence", "probeFaceDetails", "referenceFaceDetails"])
    );
    assert_eq!(keys(&same["probeFaceDetails"]), sorted(ATTRIBUTE_FIELDS));
    assert_eq!(same["probeFaceDetails"]["gender"], "Male");
    let different = verify("obama.jpg", "biden.jpg");
    let (same, different) = (
        same["confidence"].as_f64().unwrap(),
        different["confidence"].as_f64().unwrap(),
    );
    assert!(
        same >= 60.0 && different < 20.0,
        "same {same}, different {different}"
    );
    let faceless = daemon.post(
        "/api/v1/Faces/Verify",
        &json!({"probeImage": {"image": image("obama.jpg")}, "referenceImage": {"image": {"data": grey_png_base64()}}}),
    );
    invalid_field(&faceless, "referenceImage.image");
    let missing = daemon.post(
        "/api/v1/Faces/Verify",
        &json!({"probeImage": {"image": image("obama.jpg")}}),
    );
    invalid_field(&missing, "referenceImage");
}

#[test]
fn spoof_check_reports_each_detector_and_agrees_with_its_thresholds() {
    let daemon = Daemon::start();
    let check = |body: Value| {
        let reply = daemon.post("/api/v1/Faces/SpoofCheck", &body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    };
    // By default only the distant check runs (see the test below).
    let default = check(json!({"image": image("obama.jpg")}));
    assert_eq!(default["distantLivenessSpoofCheck"]["performed"], true);
    assert_eq!(default["nearbyLivenessSpoofCheck"]["performed"], false);
    // A threshold over the score fails the check, one under it passes.
    let score = default["distantLivenessSpoofCheck"]["score"]
        .as_f64()
        .unwrap();
    assert!((1.0..100.0).contains(&score), "{default}");
    for (threshold, passes) in [(score - 1.0, true), ((score + 1.0).min(100.0), false)] {
        let judged = check(json!({
            "image": image("obama.jpg"),
            "spoofCheckConfig": {"distantLivenessScoreThreshold": threshold}
        }));
        assert_eq!(judged["distantLivenessSpoofCheck"]["score"], score);
        assert_eq!(
            judged["distantLivenessSpoofCheck"]["passed"], passes,
            "{threshold}: {judged}"
        );
        assert_eq!(judged["passed"], passes, "{threshold}: {judged}");
    }

    let both = check(json!({
        "image": image("obama.jpg"),
        "spoofDetectorResourceIds": ["liveness_distant_cpu_remote", "liveness_nearby_any_remote"],
        "spoofCheckConfig": {"distantLivenessScoreThreshold": 100.0, "nearbyLivenessScoreThreshold": 10.0,
                             "keepEvaluatingConditionsAfterFirstFail": true}
    }));
    assert_eq!(both["distantLivenessSpoofCheck"]["passed"], false);
    assert_eq!(both["nearbyLivenessSpoofCheck"]["performed"], true);
    assert_eq!(both["nearbyLivenessSpoofCheck"]["passed"], true);
    assert_eq!(both["passed"], false);

    let stop_early = check(json!({
        "image": image("obama.jpg"),
        "spoofDetectorResourceIds": ["liveness_distant_cpu_remote", "liveness_nearby_cpu_remote"],
        "spoofCheckConfig": {"distantLivenessScoreThreshold": 100.0}
    }));
    assert_eq!(stop_early["nearbyLivenessSpoofCheck"]["performed"], false);
    assert!(
        stop_early["nearbyLivenessSpoofCheck"]["notPerformedReasons"][0]["reasonMessage"]
            .is_string()
    );

    // A photo without a face is refused, as Verify and Search refuse it.
    let no_face = daemon.post(
        "/api/v1/Faces/SpoofCheck",
        &json!({"image": {"data": grey_png_base64()}}),
    );
    assert!(problem(&no_face, 400)["errors"]["image"].is_array());

    let bad = daemon.post(
        "/api/v1/Faces/SpoofCheck",
        &json!({"image": image("obama.jpg"), "spoofDetectorResourceIds": ["liveness_far_cpu_remote"]}),
    );
    invalid_field(&bad, "spoofDetectorResourceIds");
}

/// SpoofCheck's default threshold for each check (`SpoofSettings::parse`).
const DEFAULT_LIVENESS_THRESHOLD: f64 = 90.0;

#[test]
fn genuine_photos_pass_spoof_check_with_its_default_settings() {
    let daemon = Daemon::start();
    let mut scores = Vec::new();
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let reply = daemon.post("/api/v1/Faces/SpoofCheck", &json!({"image": image(name)}));
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
        let result = reply.json();
        let distant = &result["distantLivenessSpoofCheck"];
        scores.push((name, distant["score"].clone()));
        assert_eq!(distant["performed"], true, "{name}: {result}");
        assert_eq!(distant["passed"], true, "{name}: {result}");
        assert_eq!(result["passed"], true, "{name}: {result}");
        // The score clears SmartFace's documented default of 90 itself,
        // whatever the code's default becomes.
        let score = distant["score"].as_f64().unwrap();
        assert!(
            (DEFAULT_LIVENESS_THRESHOLD..=100.0).contains(&score),
            "{name}: {result}"
        );
    }
    eprintln!("SpoofCheck default scores: {scores:?}");
}

#[test]
fn images_scale_down_on_request_and_unknown_ids_are_404() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    let registered = register(&daemon, "obama", &["obama.jpg"], &["staff"]);
    let id = registered["faces"][0]["imageDataId"]
        .as_str()
        .unwrap()
        .to_string();
    let dimensions = |path: &str| {
        let reply = daemon.raw("GET", path, &[], b"");
        assert_eq!(reply.status, 200);
        let image = facegate_models::image::load_from_memory(&reply.bytes).unwrap();
        (image.width(), image.height())
    };
    // obama.jpg is 910x1137.
    assert_eq!(
        dimensions(&format!("/api/v1/Images/{id}?maxSize=200")),
        (160, 200)
    );
    assert_eq!(
        dimensions(&format!("/api/v1/Images/{id}?minSize=91")),
        (91, 114)
    );
    assert_eq!(
        dimensions(&format!("/api/v1/Images/{id}?maxSize=5000")),
        (910, 1137)
    );
    problem(
        &daemon.get("/api/v1/Images/00000000-0000-0000-0000-000000000000"),
        404,
    );
    problem(&daemon.get(&format!("/api/v1/Images/{id}?maxSize=0")), 400);
}

/// A PNG of `width` x `height` black pixels, as base64.
fn black_png(width: u32, height: u32) -> String {
    png_base64(&facegate_models::RgbImage::new(width, height))
}

fn png_base64<P: facegate_models::image::PixelWithColorType>(
    image: &facegate_models::image::ImageBuffer<P, Vec<P::Subpixel>>,
) -> String
where
    [P::Subpixel]: facegate_models::image::EncodableLayout,
{
    use base64::Engine as _;
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, facegate_models::image::ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(png.into_inner())
}

/// The first `share` percent of a test photo's bytes, as base64.
fn cut_photo(name: &str, share: usize) -> String {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let bytes = base64.decode(photo_base64(name)).unwrap();
    base64.encode(&bytes[..bytes.len() * share / 100])
}

const MIB: u64 = 1 << 20;

/// Sends every `(path, body)` at once; the replies in order.
fn all_at_once(daemon: &Daemon, requests: &[(&str, Value)]) -> Vec<common::Reply> {
    std::thread::scope(|scope| {
        let sent: Vec<_> = requests
            .iter()
            .map(|(path, body)| scope.spawn(move || daemon.post(path, body)))
            .collect();
        sent.into_iter()
            .map(|reply| reply.join().unwrap())
            .collect()
    })
}

fn verify_body(probe: &str, reference: &str) -> Value {
    json!({"probeImage": {"image": {"data": probe}}, "referenceImage": {"image": {"data": reference}}})
}

/// The daemon's peak memory once four Verifies ran at once: the engine's
/// own buffers, for as many requests at once, are in this baseline.
fn warmed_up_peak(daemon: &Daemon) -> u64 {
    let photo = photo_base64("obama.jpg");
    let warm: Vec<_> = (0..4)
        .map(|_| ("/api/v1/Faces/Verify", verify_body(&photo, &photo)))
        .collect();
    for reply in all_at_once(daemon, &warm) {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    daemon.peak_rss_bytes()
}

#[test]
fn decompression_bombs_are_refused_from_their_header_without_taking_their_memory() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    let idle_peak = warmed_up_peak(&daemon);
    // The finding's bomb: 6324x6324 black, under the old 40 MP limit; as
    // RGB alone it is 114 MiB.
    let bomb = black_png(6324, 6324);
    assert!(bomb.len() < 1 << 20, "{} bytes of base64", bomb.len());
    let register = json!({"id": "b", "images": [{"data": bomb}], "watchlistIds": ["staff"]});
    let search = json!({"image": {"data": bomb}});
    let mut requests = Vec::new();
    for _ in 0..2 {
        requests.push(("/api/v1/WatchlistMembers/Register", register.clone()));
        requests.push(("/api/v1/Faces/Verify", verify_body(&bomb, &bomb)));
        requests.push(("/api/v1/Watchlists/Search", search.clone()));
    }
    let fields = ["images[0].data", "probeImage.image.data", "image.data"];
    for (reply, field) in all_at_once(&daemon, &requests)
        .iter()
        .zip(fields.iter().cycle())
    {
        let problem = invalid_field(reply, field);
        assert!(
            problem["detail"].as_str().unwrap().contains("6324x6324"),
            "{problem}"
        );
    }
    // Each refused request holds its body, under 1 MiB, and its parsed
    // copies; decoding one bomb would hold 114 MiB at least.
    let grown = daemon.peak_rss_bytes().saturating_sub(idle_peak);
    assert!(
        grown < 32 * MIB,
        "the peak memory grew by {} MiB",
        grown / MIB
    );
}

#[test]
fn verifies_at_once_share_the_decode_budget_and_stay_within_it() {
    use base64::Engine as _;
    // Two 16 MP photos (black: decoded, then no face is found); the
    // budget fits one Verify's pair and not two.
    let big = black_png(4000, 4000);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&big)
        .unwrap();
    let limits = facegate_models::DecodeLimits::UNLIMITED;
    let one = facegate_models::read_header(&bytes, &limits)
        .unwrap()
        .decode_memory;
    let budget_mib = (2 * one).div_ceil(MIB);
    let daemon = Daemon::start_with_engine(&format!("max_decode_memory_mb = {budget_mib}\n"));
    let idle_peak = warmed_up_peak(&daemon);
    let pair = verify_body(&big, &big);
    let alone = daemon.post("/api/v1/Faces/Verify", &pair);
    invalid_field(&alone, "probeImage.image");
    let alone_peak = daemon.peak_rss_bytes();
    // Four at once: each decodes its pair in turn (a turn waits up to
    // server.biometric_wait_ms, then 503).
    let four: Vec<_> = (0..4)
        .map(|_| ("/api/v1/Faces/Verify", pair.clone()))
        .collect();
    let replies = all_at_once(&daemon, &four);
    assert!(replies.iter().any(|reply| reply.status == 400));
    for reply in &replies {
        assert!(matches!(reply.status, 400 | 503), "{}", reply.body);
    }
    let (alone_grew, four_grew) = (alone_peak - idle_peak, daemon.peak_rss_bytes() - idle_peak);
    // Without the budget, four pairs would be decoded at once: four times
    // one pair's memory. With it, the four take what the budget allows,
    // and no more is held after (the allocator gives image buffers back).
    assert!(
        four_grew <= budget_mib * MIB,
        "one Verify alone grew the peak by {} MiB, four at once by {} MiB, over the \
         budget of {budget_mib} MiB",
        alone_grew / MIB,
        four_grew / MIB
    );
}

/// What is wrong with a bad image, which decides the field a 400 names.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// The image object itself is missing or not an object.
    Object,
    /// Its `data` is not a decodable image within the limits.
    Data,
    /// It decodes, but holds no face.
    NoFace,
}

/// An endpoint that takes an image, as its JSON request with `image` in
/// place, and the paths its 400s name.
struct ImageEndpoint {
    path: &'static str,
    body: fn(&Value, &str) -> Value,
    /// The path of the image object in the request.
    object: &'static str,
    /// The path named when the image holds no face.
    no_face: &'static str,
}

const IMAGE_ENDPOINTS: [ImageEndpoint; 5] = [
    ImageEndpoint {
        path: "/api/v1/WatchlistMembers/Register",
        body: |image, _| json!({"id": "new", "images": [image], "watchlistIds": ["staff"]}),
        object: "images[0]",
        no_face: "images[0].data",
    },
    ImageEndpoint {
        path: "/api/v1/WatchlistMembers/m/AddNewFace",
        body: |image, _| json!({"imageData": image}),
        object: "imageData",
        no_face: "imageData.data",
    },
    ImageEndpoint {
        path: "/api/v1/Faces/Verify",
        body: |image, good| json!({"probeImage": {"image": image}, "referenceImage": {"image": {"data": good}}}),
        object: "probeImage.image",
        no_face: "probeImage.image",
    },
    ImageEndpoint {
        path: "/api/v1/Watchlists/Search",
        body: |image, _| json!({"image": image}),
        object: "image",
        no_face: "image",
    },
    ImageEndpoint {
        path: "/api/v1/Faces/SpoofCheck",
        body: |image, _| json!({"image": image}),
        object: "image",
        no_face: "image",
    },
];

#[test]
fn bad_images_and_bodies_get_400_naming_the_field_on_every_biometric_endpoint() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    daemon.put("/api/v1/WatchlistMembers", &json!({"id": "m"}));
    let jpeg = photo_base64("obama.jpg");
    let truncated = {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&jpeg)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(&bytes[..300])
    };
    let bad_images = [
        (json!(null), Fault::Object),
        (json!("a string"), Fault::Object),
        (json!({"data": 5}), Fault::Data),
        (json!({"data": ""}), Fault::Data),
        (json!({"data": "%%%"}), Fault::Data),
        (json!({"data": truncated}), Fault::Data),
        // Cut at 70 %: its decoder would pad it with grey, face and all.
        (json!({"data": cut_photo("obama.jpg", 70)}), Fault::Data),
        // Over the 16 megapixel limit: refused from the header.
        (json!({"data": black_png(5000, 4000)}), Fault::Data),
        (json!({"data": black_png(1, 1)}), Fault::NoFace),
    ];
    for (image, fault) in &bad_images {
        for endpoint in &IMAGE_ENDPOINTS {
            let field = match fault {
                Fault::Object => endpoint.object.to_string(),
                Fault::Data => format!("{}.data", endpoint.object),
                Fault::NoFace => endpoint.no_face.to_string(),
            };
            let body = (endpoint.body)(image, &jpeg);
            let reply = daemon.post(endpoint.path, &body);
            assert_eq!(
                reply.status, 400,
                "{} with {image}: {}",
                endpoint.path, reply.body
            );
            invalid_field(&reply, &field);
        }
    }
    for (path, body, field) in [
        (
            "/api/v1/Watchlists/Search",
            json!({"image": {"data": jpeg}, "threshold": 101}),
            "threshold",
        ),
        (
            "/api/v1/Watchlists/Search",
            json!({"image": {"data": jpeg}, "maxResultCount": 0}),
            "maxResultCount",
        ),
        (
            "/api/v1/Watchlists/Search",
            json!({"image": {"data": jpeg}, "faceDetectorConfig": {"maxFaces": -1}}),
            "faceDetectorConfig.maxFaces",
        ),
        (
            "/api/v1/Faces/SpoofCheck",
            json!({"image": {"data": jpeg}, "spoofCheckConfig": {"distantLivenessScoreThreshold": 101}}),
            "spoofCheckConfig.distantLivenessScoreThreshold",
        ),
        ("/api/v1/WatchlistMembers/m/RemoveFace", json!({}), "faceId"),
        (
            "/api/v1/WatchlistMembers/m/AddFaceFromSystem",
            json!({"faceId": 3}),
            "faceId",
        ),
    ] {
        invalid_field(&daemon.post(path, &body), field);
    }
    // Nothing was stored by the refused requests.
    let faces = daemon
        .get("/api/v1/WatchlistMembers/m/Faces?ShowTotalCount=true")
        .json();
    assert_eq!(faces["totalItemsCount"], 0);
    let members = daemon
        .get("/api/v1/WatchlistMembers?ShowTotalCount=true")
        .json();
    assert_eq!(members["totalItemsCount"], 1);
}
