//! Table layout, the stored schema version, and migrations.

use super::events::Event;
use super::legacy::FaceV5;
use super::records::{decode, encode, Face, Timestamp};
use super::StoreError;
use redb::{
    MultimapTableDefinition, ReadTransaction, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};

/// The layout this build reads and writes. Bump it with every change to the
/// tables below or to a record in `records.rs`, and add a migration.
pub const SCHEMA_VERSION: u64 = 12;

/// A step from one schema version to the next, run inside the opening write
/// transaction, so a failed one changes nothing.
type Migration = fn(&WriteTransaction) -> Result<(), StoreError>;

/// Migrations from version `n` to `n + 1`, indexed by `n - 1`.
const MIGRATIONS: &[Migration] = &[
    add_biometric_tables,
    add_event_log,
    index_image_users,
    add_camera_faces,
    add_template_models,
    add_site_revisions,
    add_pending_site_records,
    add_event_watchlists,
    add_event_panel_verdicts,
    add_site_settings,
    add_event_cameras,
];

/// 11 -> 12: an event names the camera that saw it and its direction.
fn add_event_cameras(txn: &WriteTransaction) -> Result<(), StoreError> {
    reencode_events::<super::legacy::EventV10, Event>(txn)
}

/// 10 -> 11: settings a site shares with every door (its schedules).
fn add_site_settings(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SITE_SETTINGS)?;
    Ok(())
}

/// 9 -> 10: an event keeps the access-control panel's verdict.
fn add_event_panel_verdicts(txn: &WriteTransaction) -> Result<(), StoreError> {
    reencode_events::<super::legacy::EventV9, super::legacy::EventV10>(txn)
}

/// 8 -> 9: an event keeps the watchlist that admitted or blocked its
/// member (SmartFace's match results name it).
fn add_event_watchlists(txn: &WriteTransaction) -> Result<(), StoreError> {
    reencode_events::<super::legacy::EventV8, super::legacy::EventV9>(txn)
}

/// Re-encodes every event from the layout `Old` to `New`.
fn reencode_events<Old, New>(txn: &WriteTransaction) -> Result<(), StoreError>
where
    Old: serde::de::DeserializeOwned + Into<New>,
    New: serde::Serialize,
{
    let mut events = txn.open_table(EVENTS)?;
    let upgraded: Vec<(u64, Vec<u8>)> = events
        .iter()?
        .map(|entry| {
            let (sequence, bytes) = entry?;
            let event: New = decode::<Old>(bytes.value())?.into();
            Ok((sequence.value(), encode(&event)?))
        })
        .collect::<Result<_, StoreError>>()?;
    for (sequence, bytes) in upgraded {
        events.insert(sequence, bytes.as_slice())?;
    }
    Ok(())
}

/// 7 -> 8: what the site declares that this door cannot hold yet.
fn add_pending_site_records(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(PENDING_LINKS)?;
    txn.open_table(PENDING_FACES)?;
    Ok(())
}

/// 6 -> 7: the revision of each site record this door has.
fn add_site_revisions(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SITE_REVISIONS)?;
    Ok(())
}

/// 5 -> 6: each face records the template model that made its template.
fn add_template_models(txn: &WriteTransaction) -> Result<(), StoreError> {
    reencode_faces::<FaceV5, Face>(txn)
}

/// Re-encodes every face from the layout `Old` to `New`.
fn reencode_faces<Old, New>(txn: &WriteTransaction) -> Result<(), StoreError>
where
    Old: serde::de::DeserializeOwned + Into<New>,
    New: serde::Serialize,
{
    let mut faces = txn.open_table(FACES)?;
    let upgraded: Vec<(String, Vec<u8>)> = faces
        .iter()?
        .map(|entry| {
            let (id, bytes) = entry?;
            let face: New = decode::<Old>(bytes.value())?.into();
            Ok((id.value().to_string(), encode(&face)?))
        })
        .collect::<Result<_, StoreError>>()?;
    for (id, bytes) in &upgraded {
        faces.insert(id.as_str(), bytes.as_slice())?;
    }
    Ok(())
}

/// 4 -> 5: faces the camera saw. Faces gain their tracklet, frame and
/// liveness, events the face they decided on; both are re-encoded.
fn add_camera_faces(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(CAMERA_FACES)?;
    reencode_faces::<super::legacy::FaceV4, FaceV5>(txn)?;
    reencode_events::<super::legacy::EventV4, super::legacy::EventV8>(txn)
}

/// 3 -> 4: which faces use each image, so that an image no face uses is
/// erased with its last face. Images that no face uses any more (left by
/// deletions before this version) are erased now.
fn index_image_users(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut users = txn.open_multimap_table(IMAGE_FACES)?;
    for entry in txn.open_table(FACES)?.iter()? {
        let (id, bytes) = entry?;
        let face: super::records::Face = super::records::decode(bytes.value())?;
        users.insert(face.image_id.as_str(), id.value())?;
    }
    let mut images = txn.open_table(IMAGES)?;
    let orphans: Vec<String> = images
        .iter()?
        .map(|entry| Ok(entry?.0.value().to_string()))
        .collect::<Result<Vec<_>, StoreError>>()?
        .into_iter()
        .filter(|id| users.get(id.as_str()).is_ok_and(|faces| faces.is_empty()))
        .collect();
    for id in &orphans {
        images.remove(id.as_str())?;
    }
    log::info!("erased {} images that no face used", orphans.len());
    Ok(())
}

/// 2 -> 3: the door's event log.
fn add_event_log(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVENTS)?;
    Ok(())
}

/// 1 -> 2: faces and images. The tables start empty.
fn add_biometric_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(FACES)?;
    txn.open_table(MEMBER_FACES)?;
    txn.open_table(IMAGES)?;
    Ok(())
}

/// `schema_version`, `schema_created_at`, `schema_updated_at`.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Watchlist id -> postcard `Watchlist`.
pub const WATCHLISTS: TableDefinition<&str, &[u8]> = TableDefinition::new("watchlists");
/// (created_at, id): watchlists in creation order.
pub const WATCHLISTS_BY_CREATION: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("watchlists_by_creation");

/// Member id -> postcard `Member`.
pub const MEMBERS: TableDefinition<&str, &[u8]> = TableDefinition::new("members");
/// (created_at, id): members in creation order.
pub const MEMBERS_BY_CREATION: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("members_by_creation");

/// (watchlist id, member created_at, member id): the members of each
/// watchlist in the members' creation order.
pub const WATCHLIST_MEMBERS: TableDefinition<(&str, u64, &str), ()> =
    TableDefinition::new("watchlist_members");
/// Member id -> the ids of the watchlists it belongs to.
pub const MEMBER_WATCHLISTS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("member_watchlists");

/// Face id -> postcard `Face` (template, box, attributes, owner).
pub const FACES: TableDefinition<&str, &[u8]> = TableDefinition::new("faces");
/// (member id, face created_at, face id): each member's faces in order.
pub const MEMBER_FACES: TableDefinition<(&str, u64, &str), ()> =
    TableDefinition::new("member_faces");
/// Image id (derived from the content's sha256) -> postcard `StoredImage`.
pub const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
/// Image id -> the ids of the faces found in it; an image is erased with
/// its last face.
pub const IMAGE_FACES: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("image_faces");

/// (created_at, face id): the faces the camera saw that no member owns, in
/// age order, for retention.
pub const CAMERA_FACES: TableDefinition<(u64, &str), ()> = TableDefinition::new("camera_faces");

/// Event sequence -> postcard `Event`: the door's decisions, a bounded ring.
/// Site record key (`store::site`) -> the revision of it this door has.
pub const SITE_REVISIONS: TableDefinition<&str, u64> = TableDefinition::new("site_revisions");

/// (member, watchlist): a link a site member record declares to a watchlist
/// this door does not have (yet, or any more); made a link when the
/// watchlist arrives (`store::site`).
pub const PENDING_LINKS: TableDefinition<(&str, &str), ()> = TableDefinition::new("pending_links");

/// (member, face id) -> postcard (`Face`, `StoredImage`): a site face record
/// whose member this door does not have yet; stored as a face when it
/// arrives.
pub const PENDING_FACES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("pending_faces");

pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// Setting name -> its value as the site shares it (JSON): settings every
/// door of a site follows, such as its schedules (`store::site`).
pub const SITE_SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("site_settings");

const VERSION_KEY: &str = "schema_version";
const CREATED_KEY: &str = "schema_created_at";
const UPDATED_KEY: &str = "schema_updated_at";

/// What `GET /api/v1/Version` reports about the database.
#[derive(Debug, Clone, Copy)]
pub struct SchemaInfo {
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Creates every table of a new database, or migrates an older one. A
/// database written by a newer Facegate is refused rather than misread.
pub fn prepare(txn: &WriteTransaction) -> Result<(), StoreError> {
    let stored = txn.open_table(META)?.get(VERSION_KEY)?.map(|v| v.value());
    match stored {
        None => {
            create_tables(txn)?;
            let now = Timestamp::now().0;
            let mut meta = txn.open_table(META)?;
            meta.insert(VERSION_KEY, SCHEMA_VERSION)?;
            meta.insert(CREATED_KEY, now)?;
            meta.insert(UPDATED_KEY, now)?;
            Ok(())
        }
        Some(version) if version == SCHEMA_VERSION => Ok(()),
        Some(version) if version > SCHEMA_VERSION => Err(StoreError::other(format!(
            "the database has schema version {version}, newer than this build's \
             {SCHEMA_VERSION}: upgrade Facegate"
        ))),
        Some(version) => migrate(txn, version),
    }
}

fn migrate(txn: &WriteTransaction, from: u64) -> Result<(), StoreError> {
    for version in from..SCHEMA_VERSION {
        let step = usize::try_from(version - 1)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
            .ok_or_else(|| {
                StoreError::other(format!("no migration from schema version {version}"))
            })?;
        step(txn)?;
        log::info!("migrated database schema {version} -> {}", version + 1);
    }
    create_tables(txn)?;
    let mut meta = txn.open_table(META)?;
    meta.insert(VERSION_KEY, SCHEMA_VERSION)?;
    meta.insert(UPDATED_KEY, Timestamp::now().0)?;
    Ok(())
}

/// Opening a table in a write transaction creates it, so readers never meet
/// a missing table.
fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(WATCHLISTS)?;
    txn.open_table(WATCHLISTS_BY_CREATION)?;
    txn.open_table(MEMBERS)?;
    txn.open_table(MEMBERS_BY_CREATION)?;
    txn.open_table(WATCHLIST_MEMBERS)?;
    txn.open_multimap_table(MEMBER_WATCHLISTS)?;
    add_biometric_tables(txn)?;
    add_event_log(txn)?;
    txn.open_multimap_table(IMAGE_FACES)?;
    txn.open_table(CAMERA_FACES)?;
    add_site_revisions(txn)?;
    add_pending_site_records(txn)?;
    add_site_settings(txn)?;
    Ok(())
}

pub fn info(txn: &ReadTransaction) -> Result<SchemaInfo, StoreError> {
    let meta = txn.open_table(META)?;
    let read = |key: &str| -> Result<u64, StoreError> {
        meta.get(key)?
            .map(|v| v.value())
            .ok_or_else(|| StoreError::other(format!("database metadata lacks {key}")))
    };
    Ok(SchemaInfo {
        version: read(VERSION_KEY)?,
        created_at: Timestamp(read(CREATED_KEY)?),
        updated_at: Timestamp(read(UPDATED_KEY)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_database_from_a_newer_build_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|txn| -> Result<(), StoreError> {
                txn.open_table(META)?
                    .insert(VERSION_KEY, SCHEMA_VERSION + 1)?;
                Ok(())
            })
            .unwrap();
        drop(store);
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("newer"), "{err}");
        let err_again = Store::open(dir.path()).err().unwrap();
        assert!(err_again.to_string().contains("newer"));
    }

    #[test]
    fn a_version_1_database_migrates_to_the_current_schema_keeping_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = store
            .create_member("kept", Default::default())
            .unwrap()
            .unwrap();
        // Turn it back into a version 1 database: no face or image tables.
        store
            .write(|txn| -> Result<(), StoreError> {
                txn.delete_table(FACES)?;
                txn.delete_table(MEMBER_FACES)?;
                txn.delete_table(IMAGES)?;
                txn.delete_multimap_table(IMAGE_FACES)?;
                txn.delete_table(EVENTS)?;
                txn.open_table(META)?.insert(VERSION_KEY, 1)?;
                Ok(())
            })
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_info().unwrap().version, SCHEMA_VERSION);
        assert_eq!(store.member("kept").unwrap(), Some(kept));
        assert!(store.image("absent").unwrap().is_none());
    }

    #[test]
    fn a_version_3_database_learns_which_faces_use_each_image_and_erases_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (face, image) = crate::store::testing::face("f1", "ann", vec![1.0], vec![1; 10]);
        store
            .register("ann", Default::default(), &[], vec![(face, image)])
            .unwrap();
        // Back to version 3: no image users, and an image left by a
        // deletion under that version.
        store
            .write(|txn| -> Result<(), StoreError> {
                txn.delete_multimap_table(IMAGE_FACES)?;
                let orphan = crate::store::StoredImage {
                    id: "orphan".into(),
                    content_type: "image/jpeg".into(),
                    bytes: vec![2; 10],
                };
                let bytes = super::super::records::encode(&orphan)?;
                txn.open_table(IMAGES)?.insert("orphan", bytes.as_slice())?;
                txn.open_table(META)?.insert(VERSION_KEY, 3)?;
                Ok(())
            })
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert!(store.image("orphan").unwrap().is_none());
        assert!(store.image("image-f1").unwrap().is_some());
        store.remove_face("ann", "f1").unwrap();
        assert!(store.image("image-f1").unwrap().is_none());
    }

    #[test]
    fn reopening_keeps_the_schema_creation_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path()).unwrap().schema_info().unwrap();
        let second = Store::open(dir.path()).unwrap().schema_info().unwrap();
        assert_eq!(first.version, SCHEMA_VERSION);
        assert_eq!(first.created_at, second.created_at);
    }
}
