//! Records as earlier schema versions stored them, for the migrations that
//! re-encode them (postcard is positional: a new field changes the layout).

use super::events::Event;
use super::records::{Face, Timestamp};
use crate::core::event::Direction;
use crate::core::panel::PanelVerdict;
use facegate_models::{template_model, Alignment, Precision};
use serde::{Deserialize, Serialize};

/// `Face` up to schema 4.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct FaceV4 {
    id: String,
    member_id: Option<String>,
    image_id: String,
    template: Vec<f32>,
    template_quality: i32,
    quality: i32,
    bbox: [f32; 4],
    left_eye: [f32; 2],
    right_eye: [f32; 2],
    age: Option<f32>,
    gender: Option<f32>,
    yaw: Option<f32>,
    pitch: Option<f32>,
    roll: Option<f32>,
    sharpness: Option<f32>,
    brightness: Option<f32>,
    face_order: i32,
    faces_in_image: i32,
    created_at: Timestamp,
    updated_at: Option<Timestamp>,
}

/// `Face` in schema 5: no `template_model`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceV5 {
    id: String,
    member_id: Option<String>,
    image_id: String,
    template: Vec<f32>,
    template_quality: i32,
    quality: i32,
    bbox: [f32; 4],
    left_eye: [f32; 2],
    right_eye: [f32; 2],
    age: Option<f32>,
    gender: Option<f32>,
    yaw: Option<f32>,
    pitch: Option<f32>,
    roll: Option<f32>,
    sharpness: Option<f32>,
    brightness: Option<f32>,
    face_order: i32,
    faces_in_image: i32,
    created_at: Timestamp,
    updated_at: Option<Timestamp>,
    tracklet_id: Option<String>,
    frame_id: Option<String>,
    liveness: Option<f32>,
}

impl From<FaceV5> for Face {
    /// Up to schema 5 the only template network was the float32
    /// fr_feature, and whether mirrored faces were added was not recorded:
    /// the plain float32 model is assumed (the one the default config
    /// uses), so an fp32 deployment keeps its templates.
    fn from(old: FaceV5) -> Face {
        Face {
            id: old.id,
            member_id: old.member_id,
            image_id: old.image_id,
            template: old.template,
            template_quality: old.template_quality,
            quality: old.quality,
            bbox: old.bbox,
            left_eye: old.left_eye,
            right_eye: old.right_eye,
            age: old.age,
            gender: old.gender,
            yaw: old.yaw,
            pitch: old.pitch,
            roll: old.roll,
            sharpness: old.sharpness,
            brightness: old.brightness,
            face_order: old.face_order,
            faces_in_image: old.faces_in_image,
            created_at: old.created_at,
            updated_at: old.updated_at,
            tracklet_id: old.tracklet_id,
            frame_id: old.frame_id,
            liveness: old.liveness,
            template_model: template_model(Precision::Fp32, false, Alignment::Landmarks),
        }
    }
}

impl From<FaceV4> for FaceV5 {
    fn from(old: FaceV4) -> FaceV5 {
        FaceV5 {
            id: old.id,
            member_id: old.member_id,
            image_id: old.image_id,
            template: old.template,
            template_quality: old.template_quality,
            quality: old.quality,
            bbox: old.bbox,
            left_eye: old.left_eye,
            right_eye: old.right_eye,
            age: old.age,
            gender: old.gender,
            yaw: old.yaw,
            pitch: old.pitch,
            roll: old.roll,
            sharpness: old.sharpness,
            brightness: old.brightness,
            face_order: old.face_order,
            faces_in_image: old.faces_in_image,
            created_at: old.created_at,
            updated_at: old.updated_at,
            tracklet_id: None,
            frame_id: None,
            liveness: None,
        }
    }
}

/// `Event` up to schema 4.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct EventV4 {
    sequence: u64,
    at: Timestamp,
    member_id: Option<String>,
    score: Option<i32>,
    liveness: Option<f32>,
    opened: bool,
    reason: String,
    crop: Vec<u8>,
}

impl From<EventV4> for EventV8 {
    fn from(old: EventV4) -> EventV8 {
        EventV8 {
            sequence: old.sequence,
            at: old.at,
            member_id: old.member_id,
            score: old.score,
            liveness: old.liveness,
            opened: old.opened,
            reason: old.reason,
            crop: old.crop,
            face_id: None,
            tracklet_id: None,
        }
    }
}

/// `Event` in schemas 5 to 8, before it kept its watchlist.
#[derive(Deserialize, serde::Serialize)]
pub struct EventV8 {
    sequence: u64,
    at: Timestamp,
    member_id: Option<String>,
    score: Option<i32>,
    liveness: Option<f32>,
    opened: bool,
    reason: String,
    crop: Vec<u8>,
    face_id: Option<String>,
    tracklet_id: Option<String>,
}

impl From<EventV8> for EventV9 {
    fn from(old: EventV8) -> EventV9 {
        EventV9 {
            sequence: old.sequence,
            at: old.at,
            member_id: old.member_id,
            score: old.score,
            liveness: old.liveness,
            opened: old.opened,
            reason: old.reason,
            crop: old.crop,
            face_id: old.face_id,
            tracklet_id: old.tracklet_id,
            watchlist_id: None,
        }
    }
}

/// `Event` in schema 9, before it kept the panel's verdict.
#[derive(Deserialize, serde::Serialize)]
pub struct EventV9 {
    sequence: u64,
    at: Timestamp,
    member_id: Option<String>,
    score: Option<i32>,
    liveness: Option<f32>,
    opened: bool,
    reason: String,
    crop: Vec<u8>,
    face_id: Option<String>,
    tracklet_id: Option<String>,
    watchlist_id: Option<String>,
}

impl From<EventV9> for EventV10 {
    fn from(old: EventV9) -> EventV10 {
        EventV10 {
            sequence: old.sequence,
            at: old.at,
            member_id: old.member_id,
            score: old.score,
            liveness: old.liveness,
            opened: old.opened,
            reason: old.reason,
            crop: old.crop,
            face_id: old.face_id,
            tracklet_id: old.tracklet_id,
            watchlist_id: old.watchlist_id,
            panel_verdict: PanelVerdict::None,
        }
    }
}

/// `Event` in schemas 10 and 11, before it named its camera.
#[derive(Deserialize, serde::Serialize)]
pub struct EventV10 {
    sequence: u64,
    at: Timestamp,
    member_id: Option<String>,
    score: Option<i32>,
    liveness: Option<f32>,
    opened: bool,
    reason: String,
    crop: Vec<u8>,
    face_id: Option<String>,
    tracklet_id: Option<String>,
    watchlist_id: Option<String>,
    panel_verdict: PanelVerdict,
}

impl From<EventV10> for Event {
    fn from(old: EventV10) -> Event {
        Event {
            sequence: old.sequence,
            at: old.at,
            member_id: old.member_id,
            score: old.score,
            liveness: old.liveness,
            opened: old.opened,
            reason: old.reason,
            crop: old.crop,
            face_id: old.face_id,
            tracklet_id: old.tracklet_id,
            watchlist_id: old.watchlist_id,
            panel_verdict: old.panel_verdict,
            // Which camera is not known: there was one.
            stream_id: String::new(),
            direction: Direction::Entry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::encode;
    use super::super::schema::{EVENTS, FACES, META};
    use super::super::{Store, StoreError};
    use super::*;

    #[test]
    fn a_version_4_database_keeps_its_faces_and_events_in_the_new_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let face = FaceV4 {
            id: "f1".into(),
            member_id: Some("ann".into()),
            image_id: "i1".into(),
            template: vec![0.25; 4],
            template_quality: 7,
            quality: 5000,
            bbox: [1.0, 2.0, 3.0, 4.0],
            left_eye: [1.5, 2.5],
            right_eye: [2.5, 2.5],
            age: Some(30.0),
            gender: None,
            yaw: Some(1.0),
            pitch: None,
            roll: None,
            sharpness: None,
            brightness: None,
            face_order: 1,
            faces_in_image: 1,
            created_at: Timestamp(5),
            updated_at: None,
        };
        let event = EventV4 {
            sequence: 3,
            at: Timestamp(6),
            member_id: None,
            score: Some(12),
            liveness: Some(99.0),
            opened: false,
            reason: "unknown person".into(),
            crop: vec![1, 2],
        };
        store
            .write(|txn| -> Result<(), StoreError> {
                txn.open_table(FACES)?
                    .insert("f1", encode(&face)?.as_slice())?;
                txn.open_table(EVENTS)?
                    .insert(3, encode(&event)?.as_slice())?;
                txn.open_table(META)?.insert("schema_version", 4)?;
                Ok(())
            })
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let migrated = store.enrolled_faces().unwrap();
        assert_eq!(migrated, [Face::from(FaceV5::from(face))]);
        assert_eq!(migrated[0].template, vec![0.25; 4]);
        assert_eq!(
            store.event(3).unwrap(),
            Some(Event::from(EventV10::from(EventV9::from(EventV8::from(
                event
            )))))
        );
    }

    #[test]
    fn a_version_5_database_records_that_the_float32_network_made_its_templates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut face = super::super::testing::face("f1", "ann", vec![0.5; 4], vec![1; 4]).0;
        face.liveness = Some(90.0);
        // postcard is positional: a schema-5 face is this face without its
        // last field, and an empty string encodes as one byte.
        let unrecorded = Face {
            template_model: String::new(),
            ..face.clone()
        };
        let bytes = encode(&unrecorded).unwrap();
        let old: FaceV5 = super::super::records::decode(&bytes[..bytes.len() - 1]).unwrap();
        store
            .write(|txn| -> Result<(), StoreError> {
                txn.open_table(FACES)?
                    .insert("f1", encode(&old)?.as_slice())?;
                txn.open_table(META)?.insert("schema_version", 5)?;
                Ok(())
            })
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let migrated = store.enrolled_faces().unwrap();
        assert_eq!(migrated, [face]);
        assert_eq!(
            migrated[0].template_model,
            template_model(Precision::Fp32, false, Alignment::Landmarks)
        );
    }

    /// An event of schema 9, before the panel's verdict and the camera.
    fn version_9_event() -> EventV9 {
        EventV9 {
            sequence: 4,
            at: Timestamp(6),
            member_id: Some("ann".into()),
            score: Some(70),
            liveness: None,
            opened: true,
            reason: "granted".into(),
            crop: vec![3],
            face_id: None,
            tracklet_id: None,
            watchlist_id: Some("staff".into()),
        }
    }

    /// `old`, stored as event 4 of a database at schema `version`, as the
    /// store opened again reads it.
    fn migrated_event(old: &impl serde::Serialize, version: u64) -> Event {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|txn| -> Result<(), StoreError> {
                txn.open_table(EVENTS)?.insert(4, encode(old)?.as_slice())?;
                txn.open_table(META)?.insert("schema_version", version)?;
                Ok(())
            })
            .unwrap();
        drop(store);
        Store::open(dir.path()).unwrap().event(4).unwrap().unwrap()
    }

    #[test]
    fn a_version_9_event_is_kept_with_no_panel_verdict() {
        let migrated = migrated_event(&version_9_event(), 9);
        assert_eq!(migrated.watchlist_id.as_deref(), Some("staff"));
        assert_eq!(migrated.panel_verdict, PanelVerdict::None);
    }

    #[test]
    fn a_version_11_event_is_kept_with_no_camera_named() {
        let event = EventV10 {
            panel_verdict: PanelVerdict::Granted,
            ..EventV10::from(version_9_event())
        };
        let migrated = migrated_event(&event, 11);
        assert_eq!(migrated.panel_verdict, PanelVerdict::Granted);
        assert_eq!(migrated.stream_id, "");
        assert_eq!(migrated.direction, Direction::Entry);
    }
}
