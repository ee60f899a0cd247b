//! The door's event log: every decision, in a bounded ring in redb.

use super::faces::{delete_face, insert_face};
use super::paging::{window, Page, PageRequest};
use super::records::{decode, encode, Face, StoredImage, Timestamp};
use super::schema::{CAMERA_FACES, EVENTS, FACES, META};
use super::{get_record, Store, StoreError};
use crate::core::event::Direction;
use crate::core::panel::PanelVerdict;
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increases by one per event; the ring's key.
    pub sequence: u64,
    pub at: Timestamp,
    pub member_id: Option<String>,
    pub score: Option<i32>,
    pub liveness: Option<f32>,
    pub opened: bool,
    pub reason: String,
    /// A small JPEG of the face.
    pub crop: Vec<u8>,
    /// The face decided on, stored with the event (see `Retention`).
    pub face_id: Option<String>,
    pub tracklet_id: Option<String>,
    /// The watchlist that admitted or blocked the member named.
    pub watchlist_id: Option<String>,
    /// What the access-control panel made of the member's credential.
    pub panel_verdict: PanelVerdict,
    /// The camera that saw it (its stream id; empty for an event from
    /// before schema 12) and the way it faces.
    pub stream_id: String,
    pub direction: Direction,
}

/// How much of the door's history is kept: the newest `events` events,
/// and the faces the camera saw that no member owns, up to `faces` of them
/// and `face_age` old. A face linked to a member is never dropped by it.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events: u64,
    pub faces: u64,
    pub face_age: std::time::Duration,
}

/// Drops the oldest camera faces beyond `keep.faces` or older than
/// `keep.face_age`, with the images only they use.
fn drop_expired_camera_faces(txn: &WriteTransaction, keep: &Retention) -> Result<(), StoreError> {
    let oldest_kept = Timestamp::now()
        .0
        .saturating_sub(u64::try_from(keep.face_age.as_nanos()).unwrap_or(u64::MAX));
    loop {
        let mut camera_faces = txn.open_table(CAMERA_FACES)?;
        let Some((created, id)) = camera_faces
            .first()?
            .map(|(key, _)| (key.value().0, key.value().1.to_string()))
        else {
            return Ok(());
        };
        if camera_faces.len()? <= keep.faces && created >= oldest_kept {
            return Ok(());
        }
        camera_faces.remove((created, id.as_str()))?;
        drop(camera_faces);
        let face: Option<Face> = get_record(&txn.open_table(FACES)?, &id)?;
        if let Some(face) = face {
            delete_face(txn, &face)?;
        }
    }
}

/// The meta key of `Store::next_event_for_site`.
const NEXT_FOR_SITE: &str = "next_event_for_site";

impl Store {
    /// Appends an event (its `sequence` is assigned here), with the face it
    /// decided on and that face's image, in one transaction, then drops
    /// what `keep` no longer keeps.
    pub fn record_event(
        &self,
        mut event: Event,
        face: Option<(Face, StoredImage)>,
        keep: &Retention,
    ) -> Result<Event, StoreError> {
        self.write(|txn| {
            if let Some((face, image)) = face {
                let created = face.created_at.0;
                event.face_id = Some(face.id.clone());
                event.tracklet_id = face.tracklet_id.clone();
                txn.open_table(CAMERA_FACES)?
                    .insert((created, face.id.as_str()), ())?;
                insert_face(txn, face, &image)?;
            }
            drop_expired_camera_faces(txn, keep)?;
            let mut table = txn.open_table(EVENTS)?;
            let next = table.last()?.map_or(0, |(key, _)| key.value() + 1);
            event.sequence = next;
            table.insert(next, encode(&event)?.as_slice())?;
            while table.len()? > keep.events {
                table.pop_first()?;
            }
            Ok(event)
        })
    }

    pub fn events(&self, request: &PageRequest) -> Result<Page<Event>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS)?;
        let keys = table.iter()?.map(|entry| {
            let (key, _) = entry?;
            Ok(key.value())
        });
        let (sequences, has_next) = window(keys, request)?;
        let items = sequences
            .iter()
            .map(|sequence| {
                let bytes = table
                    .get(sequence)?
                    .ok_or_else(|| StoreError::other(format!("event {sequence} vanished")))?;
                Ok(decode(bytes.value())?)
            })
            .collect::<Result<_, StoreError>>()?;
        let total = match request.with_total {
            true => Some(table.len()?),
            false => None,
        };
        Ok(Page {
            items,
            has_next,
            total,
        })
    }

    /// Up to `limit` events from `sequence` on, oldest first.
    pub fn events_from(&self, sequence: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS)?;
        table
            .range(sequence..)?
            .take(limit)
            .map(|entry| Ok(decode(entry?.1.value())?))
            .collect()
    }

    /// The sequence the next event will have (sequences start at 0).
    pub fn next_event_sequence(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS)?;
        let next = table.last()?.map_or(0, |(key, _)| key.value() + 1);
        Ok(next)
    }

    /// The first event the site's stream has not acknowledged: every one
    /// before it is there. The event log is the site's outbox: the rest is
    /// sent when the link allows, and the ring's size bounds it.
    pub fn next_event_for_site(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let meta = txn.open_table(META)?;
        let next = meta.get(NEXT_FOR_SITE)?.map_or(0, |value| value.value());
        Ok(next)
    }

    pub fn set_next_event_for_site(&self, sequence: u64) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(META)?.insert(NEXT_FOR_SITE, sequence)?;
            Ok(())
        })
    }

    pub fn event(&self, sequence: u64) -> Result<Option<Event>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS)?;
        match table.get(sequence)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{face, store};
    use super::*;
    use std::time::Duration;

    fn event(reason: &str) -> Event {
        Event {
            sequence: 0,
            at: Timestamp::now(),
            member_id: None,
            score: None,
            liveness: None,
            opened: false,
            reason: reason.into(),
            crop: vec![],
            face_id: None,
            tracklet_id: None,
            watchlist_id: None,
            stream_id: String::new(),
            direction: Default::default(),
            panel_verdict: Default::default(),
        }
    }

    fn keep(events: u64, faces: u64, face_age: Duration) -> Retention {
        Retention {
            events,
            faces,
            face_age,
        }
    }

    /// A face the camera saw (no member), with an image of its own.
    fn seen(id: &str) -> (Face, StoredImage) {
        let (mut face, image) = face(id, "", vec![1.0], id.as_bytes().to_vec());
        face.member_id = None;
        face.tracklet_id = Some(format!("track-{id}"));
        (face, image)
    }

    #[test]
    fn the_ring_keeps_the_newest_events_with_rising_sequences() {
        let (_dir, store) = store();
        for i in 0..7 {
            let kept = keep(5, 0, Duration::ZERO);
            store
                .record_event(event(&format!("e{i}")), None, &kept)
                .unwrap();
        }
        let request = PageRequest {
            number: 1,
            size: 10,
            ascending: true,
            with_total: true,
        };
        let page = store.events(&request).unwrap();
        assert_eq!(page.total, Some(5));
        let kept: Vec<(u64, String)> = page
            .items
            .into_iter()
            .map(|e| (e.sequence, e.reason))
            .collect();
        assert_eq!(kept.first().unwrap(), &(2, "e2".to_string()));
        assert_eq!(kept.last().unwrap(), &(6, "e6".to_string()));
        assert!(store.event(1).unwrap().is_none() && store.event(6).unwrap().is_some());
    }

    #[test]
    fn an_event_names_its_stored_face_and_tracklet() {
        let (_dir, store) = store();
        let kept = keep(10, 10, Duration::from_secs(3600));
        let recorded = store
            .record_event(event("unknown person"), Some(seen("f1")), &kept)
            .unwrap();
        assert_eq!(recorded.face_id.as_deref(), Some("f1"));
        assert_eq!(recorded.tracklet_id.as_deref(), Some("track-f1"));
        assert_eq!(store.event(recorded.sequence).unwrap(), Some(recorded));
        assert!(store.image("image-f1").unwrap().is_some());
    }

    #[test]
    fn camera_faces_beyond_the_count_go_oldest_first_with_their_images() {
        let (_dir, store) = store();
        let kept = keep(100, 2, Duration::from_secs(3600));
        for id in ["f1", "f2", "f3", "f4"] {
            store
                .record_event(event(id), Some(seen(id)), &kept)
                .unwrap();
        }
        for (id, kept) in [("f1", false), ("f2", false), ("f3", true), ("f4", true)] {
            let image = store.image(&format!("image-{id}")).unwrap();
            assert_eq!(image.is_some(), kept, "{id}");
        }
    }

    #[test]
    fn camera_faces_older_than_the_age_go_but_a_members_face_stays() {
        let (_dir, store) = store();
        let young = keep(100, 100, Duration::from_millis(300));
        store
            .register("ann", Default::default(), &[], vec![])
            .unwrap();
        store
            .record_event(event("a"), Some(seen("old")), &young)
            .unwrap();
        store
            .record_event(event("b"), Some(seen("enrolled")), &young)
            .unwrap();
        store.attach_face("ann", "enrolled").unwrap();
        std::thread::sleep(Duration::from_millis(400));
        store
            .record_event(event("c"), Some(seen("new")), &young)
            .unwrap();
        assert!(store.image("image-old").unwrap().is_none());
        assert!(store.image("image-enrolled").unwrap().is_some());
        assert!(store.image("image-new").unwrap().is_some());
    }
}
