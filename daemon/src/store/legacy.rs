//! Records as earlier schema versions stored them, for the migrations that
//! re-encode them (postcard is positional: a new field changes the layout).

use super::events::Event;
use super::records::{Face, Timestamp};
use serde::Deserialize;

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

impl From<FaceV4> for Face {
    fn from(old: FaceV4) -> Face {
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

impl From<EventV4> for Event {
    fn from(old: EventV4) -> Event {
        Event {
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
        assert_eq!(migrated, [Face::from(face)]);
        assert_eq!(migrated[0].template, vec![0.25; 4]);
        assert_eq!(store.event(3).unwrap(), Some(Event::from(event)));
    }
}
