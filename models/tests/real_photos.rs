//! The face engine on real photos: the face_recognition 1.3.0 test images,
//! installed by `scripts/fetch-artifacts.sh`.

use facegate_hal::{Accelerator, ExecutionProvider};
use facegate_models::{
    decode_image, Alignment, AttributeSet, DecodeLimits, DetectorConfig, EngineConfig, EngineError,
    FaceEngine, LocatedFace, RgbImage, Template,
};
use image::imageops::{self, FilterType};
use image::{ImageFormat, Rgb};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::LazyLock;

const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

fn artifacts() -> PathBuf {
    std::env::var_os("FACEGATE_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"))
}

fn config() -> EngineConfig {
    let artifacts = artifacts();
    EngineConfig {
        model_dir: artifacts.join("models"),
        runtime_library: artifacts.join("onnxruntime/libonnxruntime.so"),
        threads: 2,
        execution_providers: vec![ExecutionProvider::Cpu],
        provider_options: Default::default(),
        flip_templates: false,
        alignment: Alignment::Mtcnn,
        precision: Default::default(),
        record_inputs: None,
        template_model: None,
    }
}

static ENGINE: LazyLock<FaceEngine> = LazyLock::new(|| {
    FaceEngine::load(&config()).unwrap_or_else(|e| panic!("{e} (run scripts/fetch-artifacts.sh)"))
});

fn photo_bytes(name: &str) -> Vec<u8> {
    std::fs::read(artifacts().join("testdata").join(name)).unwrap()
}

fn photo(name: &str) -> RgbImage {
    decode_image(&photo_bytes(name), &DecodeLimits::UNLIMITED)
        .unwrap()
        .pixels
}

fn only_face(image: &RgbImage) -> LocatedFace {
    let mut faces = ENGINE.locate(image, &DetectorConfig::default()).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    faces.remove(0)
}

fn template_of(image: &RgbImage) -> Template {
    ENGINE
        .template(&ENGINE.align(image, &only_face(image)))
        .unwrap()
}

fn reencoded(image: &RgbImage, format: ImageFormat) -> RgbImage {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    decode_image(bytes.get_ref(), &DecodeLimits::UNLIMITED)
        .unwrap()
        .pixels
}

#[test]
fn exactly_one_face_is_found_in_each_photo() {
    for name in PHOTOS {
        let faces = ENGINE
            .locate(&photo(name), &DetectorConfig::default())
            .unwrap();
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        assert!(faces[0].detection.probability > 0.95, "{name}");
    }
}

#[test]
fn the_crop_and_eyes_land_where_they_should() {
    // Box and eyes from the Python/OpenCV reference pipeline on the same
    // networks (faceplugin_reference.py, BGR, sim5), to within 3 pixels.
    let reference = [
        (
            "obama.jpg",
            [335.6, 91.1, 647.4, 402.9],
            [[441.3, 213.0], [548.5, 213.3]],
        ),
        (
            "obama2.jpg",
            [130.5, 224.6, 547.3, 641.4],
            [[251.9, 371.2], [375.4, 380.4]],
        ),
        (
            "biden.jpg",
            [379.5, 193.7, 742.7, 556.8],
            [[534.7, 323.3], [650.7, 351.0]],
        ),
    ];
    for (name, bbox, eyes) in reference {
        let face = only_face(&photo(name));
        let points = face.landmarks.five_points().0;
        let got = face
            .detection
            .bbox
            .into_iter()
            .chain(points[..2].iter().flatten().copied());
        let want = bbox.into_iter().chain(eyes.iter().flatten().copied());
        for (got, want) in got.zip(want) {
            assert!((got - want).abs() < 3.0, "{name}: {face:?}");
        }
    }
    for name in PHOTOS {
        let face = only_face(&photo(name));
        let [x1, y1, x2, y2] = face.detection.bbox;
        let side = x2 - x1;
        let [left_eye, right_eye, nose, left_mouth, right_mouth] = face.landmarks.five_points().0;
        for point in [left_eye, right_eye, nose, left_mouth, right_mouth] {
            assert!(
                point[0] > x1 && point[0] < x2 && point[1] > y1 && point[1] < y2,
                "{name}"
            );
        }
        assert!(
            left_eye[0] < right_eye[0] && left_mouth[0] < right_mouth[0],
            "{name}"
        );
        let eye_distance = right_eye[0] - left_eye[0];
        assert!(
            eye_distance > 0.25 * side && eye_distance < 0.5 * side,
            "{name}"
        );
        assert!(
            left_eye[1] < y1 + 0.5 * side && right_eye[1] < y1 + 0.5 * side,
            "{name}"
        );
        assert!(nose[1] > left_eye[1] && nose[1] < left_mouth[1], "{name}");
        assert_eq!(face.landmarks.points.len(), 68);
    }
}

#[test]
fn mtcnn_alignment_points_lie_near_the_landmarks_and_differ_from_them() {
    for name in PHOTOS {
        let face = only_face(&photo(name));
        let (refined, reduced) = (face.points.0, face.landmarks.five_points().0);
        let eye_distance = reduced[1][0] - reduced[0][0];
        let offsets: Vec<f32> = refined
            .iter()
            .zip(&reduced)
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .collect();
        // Halfway between two estimates of the same five points: close to
        // each, yet not the landmarks' alone (the network ran).
        assert!(
            offsets.iter().all(|d| *d < 0.2 * eye_distance),
            "{name}: {offsets:?} of {eye_distance}"
        );
        assert!(offsets.iter().any(|d| *d > 0.2), "{name}: {offsets:?}");
    }
}

#[test]
fn same_person_similarity_is_well_above_different_person_similarity() {
    let templates: Vec<Template> = PHOTOS.iter().map(|n| template_of(&photo(n))).collect();
    for t in &templates {
        let norm: f32 = t.vector.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4 && t.vector.len() == 512);
    }
    let same = [(0, 1), (0, 2), (1, 2)].map(|(a, b)| templates[a].similarity(&templates[b]));
    let different = [0, 1, 2].map(|a| templates[a].similarity(&templates[3]));
    let (worst_same, best_different) = (
        same.iter().copied().fold(f32::MAX, f32::min),
        different.iter().copied().fold(f32::MIN, f32::max),
    );
    assert!(worst_same > 0.6, "same person: {same:?}");
    assert!(best_different < 0.2, "different people: {different:?}");
    assert!(worst_same - best_different > 0.5);
}

#[test]
fn flipping_or_reencoding_an_image_barely_moves_its_template() {
    for name in PHOTOS {
        let image = photo(name);
        let original = template_of(&image);
        let flipped = template_of(&imageops::flip_horizontal(&image));
        let jpeg = template_of(&reencoded(&image, ImageFormat::Jpeg));
        let png = template_of(&reencoded(&image, ImageFormat::Png));
        assert!(original.similarity(&flipped) > 0.85, "{name} flipped");
        assert!(original.similarity(&jpeg) > 0.95, "{name} jpeg");
        assert!(original.similarity(&png) > 0.999, "{name} png");
    }
}

#[test]
fn a_blank_or_noisy_image_finds_no_face() {
    let mut seed = 12345u32;
    let noise = RgbImage::from_fn(640, 480, |_, _| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let v = (seed >> 16) as u8;
        Rgb([v, v.wrapping_mul(3), v.wrapping_mul(7)])
    });
    for image in [
        RgbImage::from_pixel(640, 480, Rgb([128, 128, 128])),
        RgbImage::from_pixel(640, 480, Rgb([0, 0, 0])),
        RgbImage::from_pixel(320, 240, Rgb([255, 255, 255])),
        RgbImage::from_pixel(1, 1, Rgb([9, 9, 9])),
        noise,
    ] {
        for accurate in [false, true] {
            let config = DetectorConfig {
                accurate,
                ..DetectorConfig::default()
            };
            assert!(ENGINE.locate(&image, &config).unwrap().is_empty());
        }
    }
}

#[test]
fn a_corrupt_file_is_a_clean_error_not_a_panic() {
    let bytes = photo_bytes("obama.jpg");
    for broken in [
        &bytes[..bytes.len() / 3],
        &bytes[..200],
        &bytes[1000..],
        b"GIF89a....",
        &[0xff, 0xd8][..],
    ] {
        // A cut JPEG too: its decoder would pad it with grey.
        let error = decode_image(broken, &DecodeLimits::UNLIMITED)
            .err()
            .unwrap();
        assert!(error.is_client_error(), "{error}");
    }
}

/// The door loop's default `[edge] liveness_threshold`, read from
/// `config/facegate.toml`, the file built into `facegate` as its defaults.
fn default_edge_liveness_threshold() -> f32 {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/facegate.toml");
    let defaults: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let threshold = &defaults["edge"]["liveness_threshold"];
    threshold
        .as_float()
        .unwrap_or_else(|| panic!("{}: liveness_threshold is {threshold}", path.display()))
        as f32
}

#[test]
fn genuine_photos_pass_the_default_door_liveness_threshold() {
    let threshold = default_edge_liveness_threshold();
    assert!(threshold > 0.0, "a zero threshold would prove nothing");
    let scores: Vec<(&str, f32)> = PHOTOS
        .iter()
        .map(|&name| {
            let image = photo(name);
            let liveness = ENGINE.liveness(&image, &only_face(&image)).unwrap();
            (name, liveness.score)
        })
        .collect();
    eprintln!("liveness scores: {scores:?}");
    for (name, score) in &scores {
        assert!(
            *score >= threshold && *score <= 100.0,
            "{name} scores {score}, under the default threshold {threshold}: {scores:?}"
        );
    }
}

#[test]
fn attributes_are_plausible_and_computed_only_when_asked() {
    for name in PHOTOS {
        let image = photo(name);
        let face = only_face(&image);
        let attributes = ENGINE
            .attributes(
                &image,
                &face,
                &ENGINE.align(&image, &face),
                AttributeSet::ALL,
            )
            .unwrap();
        assert!(attributes.gender.unwrap() > 0.5, "{name}: all four are men");
        let age = attributes.age.unwrap();
        assert!((30.0..80.0).contains(&age), "{name}: age {age}");
        let pose = attributes.pose.unwrap();
        assert!(
            pose.yaw.abs() < 30.0 && pose.roll.abs() < 20.0 && pose.pitch.abs() < 30.0,
            "{name}: {pose:?}"
        );
        let (sharpness, brightness) = (
            attributes.sharpness.unwrap(),
            attributes.brightness.unwrap(),
        );
        assert!(
            (0.0..=1.0).contains(&sharpness) && (0.2..=0.8).contains(&brightness),
            "{name}"
        );

        let mirrored = imageops::flip_horizontal(&image);
        let mirrored_face = only_face(&mirrored);
        let flipped = ENGINE
            .attributes(
                &mirrored,
                &mirrored_face,
                &ENGINE.align(&mirrored, &mirrored_face),
                AttributeSet::ALL,
            )
            .unwrap();
        let flipped_pose = flipped.pose.unwrap();
        assert!(
            (pose.yaw + flipped_pose.yaw).abs() < 6.0,
            "{name}: {pose:?} vs {flipped_pose:?}"
        );
        assert!((pose.roll + flipped_pose.roll).abs() < 4.0, "{name}");
    }
    let image = photo("obama.jpg");
    let face = only_face(&image);
    let none = ENGINE
        .attributes(
            &image,
            &face,
            &ENGINE.align(&image, &face),
            AttributeSet::NONE,
        )
        .unwrap();
    assert_eq!(none, Default::default());
}

#[test]
fn the_accurate_detector_finds_faces_too_small_for_the_default_one() {
    let obama = photo("obama.jpg");
    // obama.jpg's face is 311 px; shrink the photo so it is about 36 px,
    // on a 1280x960 frame.
    let scale = 36.0 / 311.0;
    let (w, h) = obama.dimensions();
    let small = imageops::resize(
        &obama,
        (w as f32 * scale) as u32,
        (h as f32 * scale) as u32,
        FilterType::Triangle,
    );
    let mut frame = RgbImage::from_pixel(1280, 960, Rgb([120, 120, 120]));
    imageops::replace(&mut frame, &small, 300, 200);
    let config = DetectorConfig {
        min_face_size: 20.0,
        ..DetectorConfig::default()
    };
    assert!(ENGINE.locate(&frame, &config).unwrap().is_empty());
    let found = ENGINE
        .locate(
            &frame,
            &DetectorConfig {
                accurate: true,
                ..config
            },
        )
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn size_limits_and_max_faces_filter_detections() {
    let image = photo("obama.jpg");
    let too_small = DetectorConfig {
        max_face_size: 200.0,
        ..DetectorConfig::default()
    };
    assert!(ENGINE.locate(&image, &too_small).unwrap().is_empty());
    let too_big = DetectorConfig {
        min_face_size: 400.0,
        ..DetectorConfig::default()
    };
    assert!(ENGINE.locate(&image, &too_big).unwrap().is_empty());
    // obama3.jpg's face has probability 0.9997, confidence about 8000.
    let obama3 = photo("obama3.jpg");
    let strict = DetectorConfig {
        confidence_threshold: 9000.0,
        ..DetectorConfig::default()
    };
    assert!(ENGINE.locate(&obama3, &strict).unwrap().is_empty());
    let lenient = DetectorConfig {
        confidence_threshold: 7000.0,
        ..DetectorConfig::default()
    };
    assert_eq!(ENGINE.locate(&obama3, &lenient).unwrap().len(), 1);
    // Two people side by side: both found, the larger first; maxFaces cuts.
    let (obama, biden) = (photo("obama.jpg"), photo("biden.jpg"));
    let mut pair = RgbImage::from_pixel(2000, 2300, Rgb([90, 90, 90]));
    imageops::replace(&mut pair, &obama, 0, 0);
    imageops::replace(&mut pair, &biden, 1000, 0);
    let faces = ENGINE.locate(&pair, &DetectorConfig::default()).unwrap();
    assert_eq!(faces.len(), 2, "{faces:?}");
    assert!(faces[0].detection.size() >= faces[1].detection.size());
    let one = DetectorConfig {
        max_faces: 1,
        ..DetectorConfig::default()
    };
    assert_eq!(ENGINE.locate(&pair, &one).unwrap().len(), 1);
}

#[test]
fn sessions_are_shared_across_threads_with_identical_results() {
    let image = photo("obama2.jpg");
    let expected = template_of(&image);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| template_of(&image)))
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap().vector, expected.vector);
        }
    });
}

#[test]
fn a_gpu_request_to_an_engine_on_the_cpu_is_a_clear_error() {
    assert!(ENGINE
        .providers()
        .iter()
        .all(|(_, provider)| *provider == ExecutionProvider::Cpu));
    match ENGINE.check_accelerator(Accelerator::Gpu) {
        Err(EngineError::Device(message)) => {
            assert!(message.contains("accelerator"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(ENGINE.check_accelerator(Accelerator::Any).is_ok());
    assert!(ENGINE.check_accelerator(Accelerator::Cpu).is_ok());
}

#[test]
fn missing_model_files_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let error = FaceEngine::load(&EngineConfig {
        model_dir: dir.path().to_path_buf(),
        ..config()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("fr_detect.onnx") && error.contains("fetch-artifacts"),
        "{error}"
    );
}
