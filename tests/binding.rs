//! Request binding as SmartFace's ASP.NET Core (Newtonsoft.Json) binder
//! does it, over HTTP on the real binary: strings for booleans and numbers,
//! numbers for ids, UUID face ids, the required Register `id`, SpoofCheck
//! without a face, and 405 with each path's own `Allow`.

mod common;

use common::{grey_png_base64, photo_base64, problem, Daemon};
use serde_json::{json, Value};

const REGISTER: &str = "/api/v1/WatchlistMembers/Register";
const SEARCH: &str = "/api/v1/Watchlists/Search";
const UNKNOWN_FACE: &str = "6f2b1c8e-2d3a-4b5c-9d8e-7f6a5b4c3d2e";

fn image(name: &str) -> Value {
    json!({ "data": photo_base64(name) })
}

fn watchlist(daemon: &Daemon, id: &str) {
    let body = json!({"id": id, "displayName": id, "fullName": id});
    assert_eq!(daemon.put("/api/v1/Watchlists", &body).status, 200);
}

/// The 201 body of a Register that must succeed.
fn registered(daemon: &Daemon, body: &Value) -> Value {
    let reply = daemon.post(REGISTER, body);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

/// The 200 body of a request that must succeed.
fn ok(daemon: &Daemon, path: &str, body: &Value) -> Value {
    let reply = daemon.post(path, body);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()
}

/// Asserts that `method path body` is 400 with `field` (and only it) in
/// the ProblemDetails `errors` map.
fn assert_refused(daemon: &Daemon, method: &str, path: &str, body: &Value, field: &str) {
    let details = problem(&daemon.call(method, path, Some(body)), 400);
    let errors = details["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("{path} {body}: no errors map in {details}"));
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        vec![field],
        "{path} {body}: {details}"
    );
    assert!(errors[field][0].is_string(), "{details}");
}

/// `totalItemsCount` of a paged collection.
fn total(daemon: &Daemon, path: &str) -> Value {
    let reply = daemon.get(&format!("{path}?ShowTotalCount=true"));
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()["totalItemsCount"].clone()
}

#[test]
fn search_binds_string_booleans_and_integers() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    registered(
        &daemon,
        &json!({"id": "obama", "images": [image("obama.jpg")], "watchlistIds": ["staff"]}),
    );
    let body = |threshold: &str| {
        json!({
            "image": image("obama2.jpg"),
            "watchlistIds": ["staff"],
            "threshold": threshold,
            "maxResultCount": "5",
            "faceDetectorConfig": {"maxFaces": "20", "minFaceSize": 35.0, "confidenceThreshold": " 450 "},
            "faceFeaturesConfig": {"age": "false", "gender": "TRUE", "faceMask": "true", "noseTip": "False",
                                   "yawAngle": "false", "pitchAngle": "FALSE", "rollAngle": "false",
                                   "sharpness": "false", "brightness": "true"},
            "spoofCheckConfig": {"distantLivenessScoreThreshold": "90", "keepEvaluatingConditionsAfterFirstFail": "true"}
        })
    };
    let found = ok(&daemon, SEARCH, &body("40"));
    let face = &found[0];
    assert_eq!(face["matchResults"][0]["watchlistMemberId"], "obama");
    // "false" switched the estimates off; "true" kept brightness.
    assert!(
        face["yawAngle"].is_null() && face["sharpness"].is_null(),
        "{face}"
    );
    assert!(face["brightness"].is_number(), "{face}");
    // The string threshold takes effect: no score reaches 100.
    let none = ok(&daemon, SEARCH, &body("100"));
    assert_eq!(none[0]["matchResults"], json!([]));
}

#[test]
fn wrong_values_are_400_naming_the_field_on_every_endpoint() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    daemon.put("/api/v1/WatchlistMembers", &json!({"id": "m"}));
    let jpeg = image("obama.jpg");
    let search = |extra: Value| {
        let mut body = json!({"image": jpeg.clone()});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            SEARCH,
            search(json!({"threshold": "abc"})),
            "threshold",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"threshold": 40.5})),
            "threshold",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"threshold": "40.5"})),
            "threshold",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"threshold": "101"})),
            "threshold",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"threshold": "2147483648"})),
            "threshold",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"threshold": true})),
            "threshold",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"maxResultCount": "0"})),
            "maxResultCount",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"faceFeaturesConfig": {"age": "maybe"}})),
            "faceFeaturesConfig.age",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"faceFeaturesConfig": {"yawAngle": true, "rollAngle": 1}})),
            "faceFeaturesConfig.rollAngle",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"faceDetectorConfig": {"maxFaces": "many"}})),
            "faceDetectorConfig.maxFaces",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"watchlistIds": [{}]})),
            "watchlistIds[0]",
        ),
        (
            "POST",
            SEARCH,
            search(json!({"watchlistIds": "staff"})),
            "watchlistIds",
        ),
        (
            "POST",
            "/api/v1/Faces/SpoofCheck",
            json!({"image": jpeg, "spoofCheckConfig": {"keepEvaluatingConditionsAfterFirstFail": "yes"}}),
            "spoofCheckConfig.keepEvaluatingConditionsAfterFirstFail",
        ),
        (
            "POST",
            "/api/v1/Faces/SpoofCheck",
            json!({"image": jpeg, "spoofCheckConfig": {"distantLivenessScoreThreshold": "high"}}),
            "spoofCheckConfig.distantLivenessScoreThreshold",
        ),
        (
            "POST",
            "/api/v1/Faces/SpoofCheck",
            json!({"image": jpeg, "faceDetectorConfig": {"minFaceSize": "35.5"}}),
            "faceDetectorConfig.minFaceSize",
        ),
        (
            "POST",
            "/api/v1/Faces/Verify",
            json!({"probeImage": {"image": jpeg, "faceDetectorConfig": {"minFaceSize": "x"}}, "referenceImage": {"image": jpeg}}),
            "probeImage.faceDetectorConfig.minFaceSize",
        ),
        (
            "POST",
            "/api/v1/Faces/Verify",
            json!({"probeImage": {"image": jpeg}, "referenceImage": {"image": jpeg, "faceDetectorResourceId": {}}}),
            "referenceImage.faceDetectorResourceId",
        ),
        (
            "POST",
            REGISTER,
            json!({"id": "r", "images": [jpeg], "watchlistIds": ["staff"], "keepAutoLearnPhotos": "sometimes"}),
            "keepAutoLearnPhotos",
        ),
        (
            "POST",
            REGISTER,
            json!({"id": "r", "images": [jpeg], "watchlistIds": ["staff"], "faceDetectorConfig": {"maxFaces": "1.5"}}),
            "faceDetectorConfig.maxFaces",
        ),
        (
            "POST",
            REGISTER,
            json!({"id": ["r"], "images": [jpeg], "watchlistIds": ["staff"]}),
            "id",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": "d", "fullName": "f", "threshold": " x "}),
            "threshold",
        ),
        (
            "POST",
            "/api/v1/Watchlists",
            json!({"displayName": [], "fullName": "f"}),
            "displayName",
        ),
        (
            "POST",
            "/api/v1/WatchlistMembers/LinkToWatchlist",
            json!({"watchlistId": {"id": "staff"}, "watchlistMembersIds": ["m"]}),
            "watchlistId",
        ),
    ];
    for (method, path, body, field) in &cases {
        assert_refused(&daemon, method, path, body, field);
    }
    // The refused requests stored nothing.
    assert_eq!(total(&daemon, "/api/v1/Watchlists"), 1);
    assert_eq!(total(&daemon, "/api/v1/WatchlistMembers"), 1);
    assert_eq!(
        total(&daemon, "/api/v1/Watchlists/staff/WatchlistMembers"),
        0
    );
}

#[test]
fn verify_and_spoof_check_bind_string_values() {
    let daemon = Daemon::start();
    let detector = json!({"minFaceSize": "35", "maxFaceSize": 600.0, "confidenceThreshold": "450"});
    let verified = ok(
        &daemon,
        "/api/v1/Faces/Verify",
        &json!({"probeImage": {"image": image("obama.jpg"), "faceDetectorConfig": detector},
                "referenceImage": {"image": image("obama2.jpg"), "faceDetectorConfig": detector}}),
    );
    assert!(
        verified["confidence"].as_f64().unwrap() >= 60.0,
        "{verified}"
    );
    // Each string takes effect: the distant threshold "100" fails the first
    // check, "TRUE" keeps evaluating, and "10" passes the nearby check.
    let checked = ok(
        &daemon,
        "/api/v1/Faces/SpoofCheck",
        &json!({
            "image": image("obama.jpg"),
            "faceDetectorConfig": {"minFaceSize": "35"},
            "spoofDetectorResourceIds": ["liveness_distant_cpu_remote", "liveness_nearby_cpu_remote"],
            "spoofCheckConfig": {"distantLivenessScoreThreshold": "100", "nearbyLivenessScoreThreshold": " 10 ",
                                 "keepEvaluatingConditionsAfterFirstFail": "TRUE"}
        }),
    );
    assert_eq!(checked["distantLivenessSpoofCheck"]["passed"], false);
    assert_eq!(checked["nearbyLivenessSpoofCheck"]["performed"], true);
    assert_eq!(checked["nearbyLivenessSpoofCheck"]["passed"], true);
}

#[test]
fn register_binds_numbers_as_ids_and_strings_as_flags_and_integers() {
    let daemon = Daemon::start();
    watchlist(&daemon, "12");
    let member = registered(
        &daemon,
        &json!({
            "ID": 7,
            "WatchlistIds": [12],
            "images": [{"Data": photo_base64("obama.jpg"), "FaceId": UNKNOWN_FACE.to_uppercase()},
                       {"data": photo_base64("obama2.jpg"), "faceId": null}],
            "keepAutoLearnPhotos": "False",
            "faceDetectorConfig": {"maxFaces": "5", "minFaceSize": 35.0},
            "displayName": 42,
            "labels": [{"key": 1, "value": true}],
            "somethingNew": {"nested": [1]}
        }),
    );
    assert_eq!(member["id"], "7");
    assert_eq!(member["watchlists"][0]["id"], "12");
    assert_eq!(member["displayName"], "42");
    assert_eq!(member["labels"], json!([{"key": "1", "value": "true"}]));
    assert_eq!(member["faces"].as_array().unwrap().len(), 2);
    assert_eq!(daemon.get("/api/v1/WatchlistMembers/7").status, 200);
    assert_eq!(total(&daemon, "/api/v1/Watchlists/12/WatchlistMembers"), 1);
}

#[test]
fn refused_registers_leave_nothing_behind_and_keep_earlier_data() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    watchlist(&daemon, "visitors");
    let obama = registered(
        &daemon,
        &json!({"id": "obama", "images": [image("obama.jpg")], "watchlistIds": ["staff"], "displayName": "Barack"}),
    );
    let biden = |extra: Value| {
        let mut body =
            json!({"id": "biden", "images": [image("biden.jpg")], "watchlistIds": ["visitors"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let grey = json!({"data": grey_png_base64()});
    for (body, field) in [
        (
            json!({"images": [image("biden.jpg")], "watchlistIds": ["visitors"]}),
            "id",
        ),
        (biden(json!({"id": ""})), "id"),
        (biden(json!({"id": null})), "id"),
        (biden(json!({"id": "a\u{7}b"})), "id"),
        (
            biden(
                json!({"images": [image("biden.jpg"), {"data": photo_base64("biden.jpg"), "faceId": "not-a-uuid"}]}),
            ),
            "images[1].faceId",
        ),
        (
            biden(json!({"images": [{"data": photo_base64("biden.jpg"), "faceId": 12}]})),
            "images[0].faceId",
        ),
        (
            biden(json!({"keepAutoLearnPhotos": "maybe"})),
            "keepAutoLearnPhotos",
        ),
        (
            biden(json!({"images": [image("biden.jpg"), grey]})),
            "images[1].data",
        ),
    ] {
        assert_refused(&daemon, "POST", REGISTER, &body, field);
    }
    // An existing id and an unknown watchlist are refused too.
    problem(
        &daemon.post(
            REGISTER,
            &biden(json!({"id": "obama", "displayName": "Joe"})),
        ),
        409,
    );
    problem(
        &daemon.post(
            REGISTER,
            &biden(json!({"watchlistIds": ["visitors", "nope"]})),
        ),
        404,
    );

    // No member, link or face was stored...
    problem(&daemon.get("/api/v1/WatchlistMembers/biden"), 404);
    assert_eq!(total(&daemon, "/api/v1/WatchlistMembers"), 1);
    assert_eq!(
        total(&daemon, "/api/v1/Watchlists/visitors/WatchlistMembers"),
        0
    );
    let search = |photo: &str| {
        ok(
            &daemon,
            SEARCH,
            &json!({"image": image(photo), "maxResultCount": 5}),
        )[0]["matchResults"]
            .clone()
    };
    assert_eq!(search("biden.jpg"), json!([]));
    // ...and the earlier member is as it was.
    assert_eq!(
        daemon.get("/api/v1/WatchlistMembers/obama").json()["displayName"],
        "Barack"
    );
    assert_eq!(total(&daemon, "/api/v1/WatchlistMembers/obama/Faces"), 1);
    assert_eq!(
        total(&daemon, "/api/v1/Watchlists/staff/WatchlistMembers"),
        1
    );
    let matches = search("obama2.jpg");
    assert_eq!(matches.as_array().unwrap().len(), 1, "{matches}");
    assert_eq!(matches[0]["watchlistMemberId"], "obama");
    assert_eq!(matches[0]["watchlistId"], "staff");
    let face = daemon.get("/api/v1/WatchlistMembers/obama/Faces").json()["items"][0]["id"].clone();
    assert_eq!(face, obama["faces"][0]["id"]);
}

#[test]
fn face_ids_must_be_uuids_and_bind_in_any_case() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    let member = registered(
        &daemon,
        &json!({"id": "m", "images": [image("obama.jpg")], "watchlistIds": ["staff"]}),
    );
    let face = member["faces"][0]["id"].as_str().unwrap().to_string();
    for path in [
        "/api/v1/WatchlistMembers/m/RemoveFace",
        "/api/v1/WatchlistMembers/m/AddFaceFromSystem",
    ] {
        for bad in [json!("nope"), json!(""), json!(3), json!({}), json!([face])] {
            assert_refused(&daemon, "POST", path, &json!({ "faceId": bad }), "faceId");
        }
        assert_refused(&daemon, "POST", path, &json!({}), "faceId");
        problem(&daemon.post(path, &json!({"faceId": UNKNOWN_FACE})), 404);
    }
    assert_refused(
        &daemon,
        "POST",
        "/api/v1/WatchlistMembers/m/AddNewFace",
        &json!({"imageData": {"data": photo_base64("obama2.jpg"), "faceId": "x"}}),
        "imageData.faceId",
    );
    // The refusals changed nothing.
    assert_eq!(total(&daemon, "/api/v1/WatchlistMembers/m/Faces"), 1);
    // A UUID binds in any of .NET's forms, so an upper-case or braced id
    // finds the stored face.
    let upper = face.to_uppercase();
    let reply = daemon.post(
        "/api/v1/WatchlistMembers/m/AddFaceFromSystem",
        &json!({ "faceId": format!("{{{upper}}}") }),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = daemon.post(
        "/api/v1/WatchlistMembers/m/RemoveFace",
        &json!({ "faceId": upper }),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(total(&daemon, "/api/v1/WatchlistMembers/m/Faces"), 0);
}

#[test]
fn spoof_check_without_a_face_is_400_naming_the_image() {
    let daemon = Daemon::start();
    assert_refused(
        &daemon,
        "POST",
        "/api/v1/Faces/SpoofCheck",
        &json!({"image": {"data": grey_png_base64()}}),
        "image",
    );
}

#[test]
fn null_is_absent_and_names_match_any_case_for_typed_fields() {
    let daemon = Daemon::start();
    watchlist(&daemon, "staff");
    registered(
        &daemon,
        &json!({"id": "obama", "images": [image("obama.jpg")], "watchlistIds": ["staff"]}),
    );
    let found = ok(
        &daemon,
        SEARCH,
        &json!({"IMAGE": image("obama2.jpg"), "threshold": null, "MaxResultCount": "2",
                "FaceFeaturesConfig": {"YAWANGLE": "false", "pitchangle": "false", "RollAngle": "false", "age": null},
                "faceDetectorConfig": null, "unknownField": "ignored"}),
    );
    // The default threshold (40) applied, and the flags were read.
    assert_eq!(found[0]["matchResults"][0]["watchlistMemberId"], "obama");
    assert!(found[0]["yawAngle"].is_null(), "{}", found[0]);
    assert!(found[0]["sharpness"].is_number(), "{}", found[0]);
}

#[test]
fn each_path_answers_405_with_its_own_methods() {
    let daemon = Daemon::start();
    for (method, path, allow) in [
        ("GET", "/api/v1/Watchlists/Search", "POST"),
        ("DELETE", "/api/v1/watchlists/search/", "POST"),
        ("GET", "/api/v1/WatchlistMembers/Register", "POST"),
        ("GET", "/api/v1/WatchlistMembers/LinkToWatchlist", "POST"),
        (
            "DELETE",
            "/api/v1/WatchlistMembers/UnlinkFromWatchlist",
            "POST",
        ),
        ("GET", "/api/v1/WatchlistMembers/m/AddNewFace", "POST"),
        ("GET", "/api/v1/WatchlistMembers/m/RemoveFace", "POST"),
        ("POST", "/api/v1/WatchlistMembers/m/Faces", "GET"),
        ("GET", "/api/v1/Faces/Verify", "POST"),
        ("GET", "/api/v1/Faces/SpoofCheck", "POST"),
        ("POST", "/api/v1/Version", "GET"),
        ("DELETE", "/api/v1/Images/x", "GET"),
        ("PATCH", "/api/v1/Watchlists/x", "GET, DELETE"),
        ("PUT", "/api/v1/WatchlistMembers/x", "GET, DELETE"),
        ("DELETE", "/api/v1/Watchlists", "GET, POST, PUT"),
        ("POST", "/api/facegate/v1/status", "GET"),
    ] {
        let reply = daemon.call(method, path, Some(&json!({})));
        let details = problem(&reply, 405);
        assert_eq!(reply.header("Allow"), Some(allow), "{method} {path}");
        assert!(
            details["detail"].as_str().unwrap().contains(allow),
            "{details}"
        );
    }
    // The fixed paths still serve their own method.
    problem(&daemon.post(SEARCH, &json!({})), 400);
    assert_eq!(total(&daemon, "/api/v1/Watchlists"), 0);
}
