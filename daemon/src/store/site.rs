//! A site door's records: how its changes reach the site before they are
//! committed here, and how the site's changes are applied here.
//!
//! In site mode the site's key-value bucket is the source of truth. A
//! replicated write (`write_replicated`) runs its change in a redb write
//! transaction, reads the records it touched as they now stand, and hands
//! them to the `Replica` (the site front end), which stores each in the
//! bucket checked against the revision this door last had of it. Only when
//! the site has stored them all is the transaction committed; a refusal
//! aborts it, so the door never holds a change the site does not. Changes
//! from the site (this door's own among them) are applied with
//! `apply_site_record`, which is idempotent: a record replaces what the
//! door has.

use super::faces::{delete_face, faces_of, insert_face};
use super::failure::WriteFailure;
use super::members::{delete_member_in, link_in, put_member};
use super::records::{Face, Member, StoredImage, Watchlist};
use super::schema::{
    FACES, IMAGES, MEMBERS, MEMBERS_BY_CREATION, MEMBER_WATCHLISTS, META, PENDING_FACES,
    PENDING_LINKS, SITE_REVISIONS, SITE_SETTINGS, WATCHLISTS, WATCHLISTS_BY_CREATION,
    WATCHLIST_MEMBERS,
};
use super::watchlists::delete_watchlist_in;
use super::{get_record, Cause, Store, StoreError};
use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A record of the site, by its key in the site's bucket. Ids are written
/// in hex, since a key allows only some characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordKey {
    Watchlist(String),
    Member(String),
    /// A member's face: its template and the id of its image.
    Face(String),
    /// A setting every door of the site follows, by name.
    Setting(String),
}

impl RecordKey {
    pub fn key(&self) -> String {
        let (kind, id) = match self {
            RecordKey::Watchlist(id) => ("watchlist", id),
            RecordKey::Member(id) => ("member", id),
            RecordKey::Face(id) => ("face", id),
            RecordKey::Setting(name) => ("setting", name),
        };
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{kind}.{hex}")
    }

    pub fn parse(key: &str) -> Option<RecordKey> {
        let (kind, hex) = key.split_once('.')?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let id = String::from_utf8(bytes).ok()?;
        match kind {
            "watchlist" => Some(RecordKey::Watchlist(id)),
            "member" => Some(RecordKey::Member(id)),
            "face" => Some(RecordKey::Face(id)),
            "setting" => Some(RecordKey::Setting(id)),
            _ => None,
        }
    }
}

/// A member as the site holds it: its fields and its links. Its faces are
/// records of their own (a `Face` with its template, whose image is in the
/// site's object store by id), so the record stays small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub member: Member,
    pub watchlists: Vec<String>,
    /// The member's faces: written into the record by Facegate before faces
    /// were records of their own, read from such a record, never written.
    /// In what `apply_site_record` returns: every face the member has here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faces: Vec<Face>,
}

/// One record for the site to store: its value (`None` deletes it), the
/// revision of it this door has (0 for none), and the images its faces use.
pub struct SiteChange {
    pub key: RecordKey,
    pub value: Option<Vec<u8>>,
    pub expected_revision: u64,
    pub images: Vec<StoredImage>,
}

#[derive(Debug)]
pub enum Refusal {
    /// The site cannot be reached: nothing was written.
    Unreachable(String),
    /// Another door changed the record since this door last had it:
    /// nothing was written.
    Conflict(String),
    /// More records, or a larger one, than the site takes in one write:
    /// nothing was written, and retrying cannot help.
    TooLarge(String),
    /// The site did not answer whether it stored the write, which it
    /// stores whole or not at all.
    Unconfirmed(String),
}

/// One write of a door for the site to store: the records it changed,
/// and the images no face of the door uses any more, to erase.
pub struct SiteWrite {
    pub changes: Vec<SiteChange>,
    pub erased_images: Vec<String>,
}

/// The site's store, as the store sees it.
pub trait Replica: Send + Sync {
    /// Stores every change in the site, then erases the images; the new
    /// revision of each change.
    fn store(&self, write: &SiteWrite) -> Result<Vec<u64>, Refusal>;
}

/// The records a change touched.
#[derive(Default)]
pub(super) struct Touched(BTreeSet<RecordKey>);

impl Touched {
    pub(super) fn watchlist(&mut self, id: &str) {
        self.0.insert(RecordKey::Watchlist(id.to_string()));
    }

    pub(super) fn member(&mut self, id: &str) {
        self.0.insert(RecordKey::Member(id.to_string()));
    }

    pub(super) fn face(&mut self, id: &str) {
        self.0.insert(RecordKey::Face(id.to_string()));
    }

    fn setting(&mut self, name: &str) {
        self.0.insert(RecordKey::Setting(name.to_string()));
    }
}

/// A record of the site at a revision, as the watch delivers it: its value
/// (`None` when deleted), with the images its faces use that the door
/// lacked.
pub struct SiteRecord<'a> {
    pub key: &'a RecordKey,
    pub value: Option<&'a [u8]>,
    pub images: &'a [StoredImage],
    pub revision: u64,
}

/// What applying a site record changed, for the search index.
pub enum Applied {
    Watchlist {
        id: String,
        deleted: bool,
        /// Members whose links to it were waiting for it, linked now.
        linked: Vec<String>,
    },
    Member {
        id: String,
        now: Option<MemberRecord>,
    },
    /// A face, as it now is here: `None` when it is gone, or waits for its
    /// member.
    Face { id: String, now: Option<Face> },
    /// A site setting, which the search index does not hold.
    Setting,
}

/// The meta key of the last site revision applied here.
const APPLIED_REVISION: &str = "site_applied_revision";

impl Store {
    /// Sends every later replicated write to `replica` first.
    pub fn join_site(&self, replica: Arc<dyn Replica>) {
        if self.replica.set(replica).is_err() {
            log::warn!("the store already belongs to a site");
        }
    }

    /// `write`, with the records `change` touched stored in the site
    /// before the commit, in site mode.
    pub(super) fn write_replicated<T, E: WriteFailure>(
        &self,
        change: impl FnOnce(&WriteTransaction, &mut Touched) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write(|txn| {
            let mut touched = Touched::default();
            let value = change(txn, &mut touched)?;
            if let Some(replica) = self.replica.get() {
                replicate(self, txn, replica.as_ref(), touched)?;
            }
            Ok(value)
        })
    }

    /// The last site revision applied here; 0 before the first.
    pub fn applied_site_revision(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let revision = txn
            .open_table(META)?
            .get(APPLIED_REVISION)?
            .map_or(0, |value| value.value());
        Ok(revision)
    }

    /// The site's setting `name` as this door last had it (JSON).
    pub fn site_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let value = txn
            .open_table(SITE_SETTINGS)?
            .get(name)?
            .map(|value| value.value().to_vec());
        Ok(value)
    }

    /// Shares `value` as the site's setting `name`: stored in the site
    /// first, as every replicated write.
    pub fn put_site_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write_replicated(|txn, touched| {
            txn.open_table(SITE_SETTINGS)?.insert(name, value)?;
            touched.setting(name);
            Ok::<_, StoreError>(())
        })
    }

    /// Whether the image is here.
    pub fn has_image(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.read()?.open_table(IMAGES)?.get(id)?.is_some())
    }

    /// Applies the site's record: its value replaces what the door has (a
    /// deleted one deletes it), unless the door has that revision of it or
    /// a later one (`None` then). Never replicated.
    pub fn apply_site_record(&self, record: SiteRecord) -> Result<Option<Applied>, StoreError> {
        let SiteRecord {
            key,
            value,
            images,
            revision,
        } = record;
        self.write(|txn| {
            txn.open_table(META)?.insert(APPLIED_REVISION, revision)?;
            let mut revisions = txn.open_table(SITE_REVISIONS)?;
            let had = revisions.get(key.key().as_str())?.map(|v| v.value());
            // This door's own write comes back after it committed it, maybe
            // after a later write of the same record: it has it already.
            if had.is_some_and(|had| had >= revision) {
                return Ok(None);
            }
            revisions.insert(key.key().as_str(), revision)?;
            drop(revisions);
            let applied = match (key, value) {
                (RecordKey::Watchlist(id), Some(bytes)) => {
                    let Some(watchlist) = readable(key, revision, bytes) else {
                        return Ok(None);
                    };
                    let linked = apply_watchlist(txn, &watchlist)?;
                    Applied::Watchlist {
                        id: id.clone(),
                        deleted: false,
                        linked,
                    }
                }
                (RecordKey::Watchlist(id), None) => {
                    // The members' records may still name it (another door
                    // linked one meanwhile): their links wait, as they would
                    // had the watchlist never arrived.
                    let mut pending = txn.open_table(PENDING_LINKS)?;
                    for member in delete_watchlist_in(txn, id)?.unwrap_or_default() {
                        pending.insert((member.as_str(), id.as_str()), ())?;
                    }
                    Applied::Watchlist {
                        id: id.clone(),
                        deleted: true,
                        linked: Vec::new(),
                    }
                }
                (RecordKey::Member(id), Some(bytes)) => {
                    let Some(record) = readable(key, revision, bytes) else {
                        return Ok(None);
                    };
                    Applied::Member {
                        id: id.clone(),
                        now: Some(apply_member(txn, record, images)?),
                    }
                }
                (RecordKey::Member(id), None) => {
                    delete_member_in(txn, id)?;
                    Applied::Member {
                        id: id.clone(),
                        now: None,
                    }
                }
                (RecordKey::Face(id), Some(bytes)) => {
                    let Some(face) = readable(key, revision, bytes) else {
                        return Ok(None);
                    };
                    Applied::Face {
                        id: id.clone(),
                        now: apply_face(txn, face, images)?,
                    }
                }
                (RecordKey::Face(id), None) => {
                    let face: Option<Face> = get_record(&txn.open_table(FACES)?, id)?;
                    match face.filter(|face| face.member_id.is_some()) {
                        Some(face) => delete_face(txn, &face)?,
                        None => forget_pending_face(txn, id)?,
                    }
                    Applied::Face {
                        id: id.clone(),
                        now: None,
                    }
                }
                (RecordKey::Setting(name), Some(bytes)) => {
                    txn.open_table(SITE_SETTINGS)?
                        .insert(name.as_str(), bytes)?;
                    Applied::Setting
                }
                (RecordKey::Setting(name), None) => {
                    txn.open_table(SITE_SETTINGS)?.remove(name.as_str())?;
                    Applied::Setting
                }
            };
            Ok(Some(applied))
        })
    }
}

/// The record a site record's bytes hold; `None`, logged, for one no door
/// of this version can read (a newer door's, say), which is skipped so it
/// cannot stop the door following.
fn readable<T: serde::de::DeserializeOwned>(
    key: &RecordKey,
    revision: u64,
    bytes: &[u8],
) -> Option<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| {
            log::warn!(
                "site record {} (revision {revision}) cannot be read and is skipped: {e}",
                key.key()
            )
        })
        .ok()
}

/// Stores the touched records in the site, and notes their revisions.
fn replicate(
    store: &Store,
    txn: &WriteTransaction,
    replica: &dyn Replica,
    touched: Touched,
) -> Result<(), StoreError> {
    let mut revisions = txn.open_table(SITE_REVISIONS)?;
    let mut keys = touched.0;
    // A member's faces the site has no record of (written into its member
    // record by an older Facegate, or enrolled before the door joined)
    // become records of their own with it.
    let members: Vec<String> = keys
        .iter()
        .filter_map(|key| match key {
            RecordKey::Member(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    for member in members {
        for face in faces_of(txn, &member)? {
            let key = RecordKey::Face(face.id);
            if revisions.get(key.key().as_str())?.is_none() {
                keys.insert(key);
            }
        }
    }
    let changes = keys
        .into_iter()
        .map(|key| {
            let expected_revision = revisions
                .get(key.key().as_str())?
                .map_or(0, |value| value.value());
            let (value, images) = current(txn, &key)?;
            Ok(SiteChange {
                key,
                value,
                expected_revision,
                images,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let write = SiteWrite {
        erased_images: erased_images(store, txn, &changes)?,
        changes,
    };
    let stored = replica.store(&write).map_err(|refusal| match refusal {
        Refusal::Unreachable(why) => StoreError::site(Cause::SiteUnreachable, why),
        Refusal::Conflict(why) => StoreError::site(Cause::SiteConflict, why),
        Refusal::TooLarge(why) => StoreError::site(Cause::SiteTooLarge, why),
        Refusal::Unconfirmed(why) => StoreError::site(Cause::SiteUnconfirmed, why),
    })?;
    for (change, revision) in write.changes.iter().zip(stored) {
        revisions.insert(change.key.key().as_str(), revision)?;
    }
    Ok(())
}

/// The images of the faces this write deleted that no face here uses any
/// more: the site need not keep them either.
fn erased_images(
    store: &Store,
    txn: &WriteTransaction,
    changes: &[SiteChange],
) -> Result<Vec<String>, StoreError> {
    let deleted_faces: Vec<&String> = changes
        .iter()
        .filter_map(|change| match (&change.key, &change.value) {
            (RecordKey::Face(id), None) => Some(id),
            _ => None,
        })
        .collect();
    if deleted_faces.is_empty() {
        return Ok(Vec::new()); // most writes: no snapshot to open
    }
    let before = store.read()?;
    let (faces_before, images_now) = (before.open_table(FACES)?, txn.open_table(IMAGES)?);
    let mut erased = BTreeSet::new();
    for id in deleted_faces {
        let face: Option<Face> = get_record(&faces_before, id)?;
        if let Some(face) = face {
            if images_now.get(face.image_id.as_str())?.is_none() {
                erased.insert(face.image_id);
            }
        }
    }
    Ok(erased.into_iter().collect())
}

/// The record as the transaction has it, as the site stores it, with the
/// images of its faces; `None` when it is gone.
fn current(
    txn: &WriteTransaction,
    key: &RecordKey,
) -> Result<(Option<Vec<u8>>, Vec<StoredImage>), StoreError> {
    match key {
        RecordKey::Watchlist(id) => {
            let watchlist: Option<Watchlist> = get_record(&txn.open_table(WATCHLISTS)?, id)?;
            Ok((watchlist.as_ref().map(json), Vec::new()))
        }
        RecordKey::Member(id) => {
            let member: Option<Member> = get_record(&txn.open_table(MEMBERS)?, id)?;
            let Some(member) = member else {
                return Ok((None, Vec::new()));
            };
            // The links it has here, and those waiting for their watchlist:
            // a door that has not seen a watchlist must not drop its links
            // from the record it writes.
            let mut watchlists = txn
                .open_multimap_table(MEMBER_WATCHLISTS)?
                .get(id.as_str())?
                .map(|watchlist| Ok(watchlist?.value().to_string()))
                .collect::<Result<BTreeSet<_>, StoreError>>()?;
            watchlists.extend(pending_links_of(txn, id)?);
            let record = MemberRecord {
                member,
                watchlists: watchlists.into_iter().collect(),
                faces: Vec::new(),
            };
            Ok((Some(json(&record)), Vec::new()))
        }
        RecordKey::Face(id) => {
            let face: Option<Face> = get_record(&txn.open_table(FACES)?, id)?;
            // A face the camera saw is not the site's, until it is a member's.
            let Some(face) = face.filter(|face| face.member_id.is_some()) else {
                return Ok((None, Vec::new()));
            };
            let image: StoredImage = get_record(&txn.open_table(IMAGES)?, &face.image_id)?
                .ok_or_else(|| {
                    StoreError::other(format!("image {} of a face is missing", face.image_id))
                })?;
            Ok((Some(json(&face)), vec![image]))
        }
        RecordKey::Setting(name) => {
            let settings = txn.open_table(SITE_SETTINGS)?;
            let value = settings.get(name.as_str())?.map(|v| v.value().to_vec());
            Ok((value, Vec::new()))
        }
    }
}

/// A record as the site stores it.
fn json<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

/// Puts the watchlist as the site has it, and links the members whose
/// links waited for it; returns them.
fn apply_watchlist(
    txn: &WriteTransaction,
    watchlist: &Watchlist,
) -> Result<Vec<String>, StoreError> {
    let mut by_creation = txn.open_table(WATCHLISTS_BY_CREATION)?;
    let existing: Option<Watchlist> = get_record(&txn.open_table(WATCHLISTS)?, &watchlist.id)?;
    if let Some(existing) = existing {
        by_creation.remove((existing.created_at.0, existing.id.as_str()))?;
    }
    by_creation.insert((watchlist.created_at.0, watchlist.id.as_str()), ())?;
    txn.open_table(WATCHLISTS)?.insert(
        watchlist.id.as_str(),
        super::records::encode(watchlist)?.as_slice(),
    )?;
    drop(by_creation);
    let mut pending = txn.open_table(PENDING_LINKS)?;
    let waiting: Vec<String> = pending
        .iter()?
        .map(|entry| {
            let (key, _) = entry?;
            let (member, waits_for) = key.value();
            Ok((waits_for == watchlist.id).then(|| member.to_string()))
        })
        .filter_map(Result::transpose)
        .collect::<Result<_, StoreError>>()?;
    let members = txn.open_table(MEMBERS)?;
    for id in &waiting {
        pending.remove((id.as_str(), watchlist.id.as_str()))?;
        let member: Option<Member> = get_record(&members, id)?;
        if let Some(member) = member {
            link_in(txn, &member, std::slice::from_ref(&watchlist.id))?;
        }
    }
    Ok(waiting)
}

/// The watchlists a member's site record names that this door lacks.
fn pending_links_of(txn: &WriteTransaction, member: &str) -> Result<Vec<String>, StoreError> {
    let pending = txn.open_table(PENDING_LINKS)?;
    let waiting = pending
        .range((member, "")..)?
        .map(|entry| {
            let (key, _) = entry?;
            let (owner, watchlist) = key.value();
            Ok((owner == member).then(|| watchlist.to_string()))
        })
        .take_while(|entry| !matches!(entry, Ok(None)))
        .filter_map(Result::transpose)
        .collect::<Result<_, StoreError>>()?;
    Ok(waiting)
}

/// Forgets the links of `member` that wait for their watchlist.
fn forget_pending_links(txn: &WriteTransaction, member: &str) -> Result<(), StoreError> {
    let waiting = pending_links_of(txn, member)?;
    let mut pending = txn.open_table(PENDING_LINKS)?;
    for watchlist in &waiting {
        pending.remove((member, watchlist.as_str()))?;
    }
    Ok(())
}

/// Makes the member here what the site has: its fields, its links (to the
/// watchlists the door has; the others wait for theirs) and its faces.
/// Returns what it now is here.
fn apply_member(
    txn: &WriteTransaction,
    mut record: MemberRecord,
    images: &[StoredImage],
) -> Result<MemberRecord, StoreError> {
    let member = &record.member;
    let id = member.id.as_str();
    // Links and faces are keyed by the creation time: drop the old ones and
    // put what the record says.
    let had: Option<Member> = get_record(&txn.open_table(MEMBERS)?, id)?;
    if let Some(had) = &had {
        let old_links = txn
            .open_multimap_table(MEMBER_WATCHLISTS)?
            .remove_all(id)?
            .map(|watchlist| Ok(watchlist?.value().to_string()))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut links = txn.open_table(WATCHLIST_MEMBERS)?;
        for watchlist in &old_links {
            links.remove((watchlist.as_str(), had.created_at.0, id))?;
        }
        txn.open_table(MEMBERS_BY_CREATION)?
            .remove((had.created_at.0, id))?;
    }
    put_member(txn, member)?;
    txn.open_table(MEMBERS_BY_CREATION)?
        .insert((member.created_at.0, id), ())?;
    forget_pending_links(txn, id)?;
    let watchlists = txn.open_table(WATCHLISTS)?;
    let mut pending = txn.open_table(PENDING_LINKS)?;
    let mut here = Vec::with_capacity(record.watchlists.len());
    for watchlist in record.watchlists.drain(..) {
        match watchlists.get(watchlist.as_str())? {
            Some(_) => here.push(watchlist),
            None => {
                pending.insert((id, watchlist.as_str()), ())?;
            }
        }
    }
    drop((watchlists, pending));
    record.watchlists = here;
    link_in(txn, member, &record.watchlists)?;
    // Its faces are records of their own: those that came before it wait
    // for it. A record of an older Facegate holds its faces itself.
    for face in record.faces.drain(..) {
        apply_face(txn, face, images)?;
    }
    for (face, image) in take_pending_faces(txn, id)? {
        insert_face(txn, face, &image)?;
    }
    record.faces = faces_of(txn, id)?;
    Ok(record)
}

/// Stores a member's face as the site has it, replacing the one of its id;
/// a face whose member is not here yet waits for it. The face as it now is
/// here, `None` when it waits.
fn apply_face(
    txn: &WriteTransaction,
    face: Face,
    images: &[StoredImage],
) -> Result<Option<Face>, StoreError> {
    let Some(member) = face.member_id.clone() else {
        return Ok(None); // a camera's face is never the site's
    };
    let image = match images.iter().find(|image| image.id == face.image_id) {
        Some(image) => image.clone(),
        None => get_record(&txn.open_table(IMAGES)?, &face.image_id)?.ok_or_else(|| {
            StoreError::other(format!("image {} of a site face is missing", face.image_id))
        })?,
    };
    if txn.open_table(MEMBERS)?.get(member.as_str())?.is_none() {
        let waiting = super::records::encode(&(&face, &image))?;
        txn.open_table(PENDING_FACES)?
            .insert((member.as_str(), face.id.as_str()), waiting.as_slice())?;
        return Ok(None);
    }
    let had: Option<Face> = get_record(&txn.open_table(FACES)?, &face.id)?;
    if had.as_ref() == Some(&face) {
        return Ok(Some(face));
    }
    if let Some(had) = had {
        delete_face(txn, &had)?;
    }
    insert_face(txn, face, &image).map(Some)
}

/// Removes the faces waiting for `member` and returns them with their
/// images.
fn take_pending_faces(
    txn: &WriteTransaction,
    member: &str,
) -> Result<Vec<(Face, StoredImage)>, StoreError> {
    let mut pending = txn.open_table(PENDING_FACES)?;
    let mut taken = Vec::new();
    for entry in pending.range((member, "")..)? {
        let (key, bytes) = entry?;
        if key.value().0 != member {
            break;
        }
        taken.push(super::records::decode::<(Face, StoredImage)>(
            bytes.value(),
        )?);
    }
    for (face, _) in &taken {
        pending.remove((member, face.id.as_str()))?;
    }
    Ok(taken)
}

/// Forgets face `id` if it waits for its member: a face deleted before its
/// member arrived. Looked for by id among all that wait, which are few.
fn forget_pending_face(txn: &WriteTransaction, id: &str) -> Result<(), StoreError> {
    let mut pending = txn.open_table(PENDING_FACES)?;
    let mut owners = Vec::new();
    for entry in pending.iter()? {
        let (key, _) = entry?;
        let (member, face) = key.value();
        if face == id {
            owners.push(member.to_string());
        }
    }
    for member in &owners {
        pending.remove((member.as_str(), id))?;
    }
    Ok(())
}

/// Forgets what waits for `member` here: its links waiting for their
/// watchlists, and faces waiting for it.
pub(super) fn forget_pending(txn: &WriteTransaction, member: &str) -> Result<(), StoreError> {
    forget_pending_links(txn, member)?;
    take_pending_faces(txn, member).map(drop)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{face, store, Random};
    use super::super::{MemberFields, WatchlistFields};
    use super::*;
    use redb::TableDefinition;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;

    /// One stored version of a record, as the bucket keeps it.
    #[derive(Clone)]
    struct Version {
        revision: u64,
        key: RecordKey,
        value: Option<Vec<u8>>,
    }

    /// The site's bucket, as one writing door sees it: every version in
    /// revision order, and the images.
    #[derive(Default)]
    struct Bucket {
        history: Vec<Version>,
        images: HashMap<String, StoredImage>,
    }

    impl Bucket {
        /// The latest version of every record, in revision order: what a
        /// door watching from the start is given.
        fn latest(&self) -> Vec<Version> {
            let mut latest: BTreeMap<String, Version> = BTreeMap::new();
            for version in &self.history {
                latest.insert(version.key.key(), version.clone());
            }
            let mut latest: Vec<Version> = latest.into_values().collect();
            latest.sort_by_key(|version| version.revision);
            latest
        }
    }

    struct FakeSite(Mutex<Bucket>);

    impl Replica for FakeSite {
        fn store(&self, write: &SiteWrite) -> Result<Vec<u64>, Refusal> {
            let mut bucket = self.0.lock().unwrap();
            let mut revisions = Vec::new();
            for change in &write.changes {
                let had = bucket
                    .history
                    .iter()
                    .rev()
                    .find(|version| version.key == change.key)
                    .map_or(0, |version| version.revision);
                // One writer: it always knows the revision it replaces.
                assert_eq!(had, change.expected_revision, "{:?}", change.key);
                for image in &change.images {
                    bucket.images.insert(image.id.clone(), image.clone());
                }
                let revision = bucket.history.len() as u64 + 1;
                bucket.history.push(Version {
                    revision,
                    key: change.key.clone(),
                    value: change.value.clone(),
                });
                revisions.push(revision);
            }
            Ok(revisions)
        }
    }

    /// One random replicated write at the writing door; refusals (an
    /// unknown watchlist, say) are part of the history too.
    fn random_write(store: &Store, random: &mut Random, step: usize) {
        let watchlist = format!("w{}", random.below(3));
        let member = format!("m{}", random.below(4));
        let members: Vec<String> = (0..1 + random.below(3))
            .map(|_| format!("m{}", random.below(4)))
            .collect();
        let watchlist_fields = || WatchlistFields {
            display_name: watchlist.clone(),
            full_name: watchlist.clone(),
            threshold: Some(40 + step as i32 % 50),
            preview_color: None,
        };
        let note = MemberFields {
            note: Some(format!("edited at step {step}")),
            ..MemberFields::default()
        };
        let new_face = || {
            let template = vec![step as f32, 1.0];
            face(&format!("f{step}"), &member, template, vec![step as u8; 8])
        };
        let _ = match random.below(11) {
            0 | 1 => store
                .create_watchlist(&watchlist, watchlist_fields())
                .map(drop),
            2 => store
                .upsert_watchlist(&watchlist, watchlist_fields())
                .map(drop),
            3 => store.delete_watchlist(&watchlist).map(drop),
            4 => store.upsert_member(&member, note).map(drop),
            5 => store.delete_member(&member).map(drop),
            6 | 7 => store
                .link(&watchlist, &members)
                .map_err(drop)
                .map(drop)
                .or(Ok(())),
            8 => store
                .unlink(&watchlist, &members)
                .map_err(drop)
                .map(drop)
                .or(Ok(())),
            9 => {
                let (face, image) = new_face();
                let registered = store.register(
                    &member,
                    MemberFields::default(),
                    &[watchlist],
                    vec![(face.clone(), image.clone())],
                );
                if registered.is_err() {
                    let _ = store.add_face(&member, face, image);
                }
                Ok(())
            }
            _ => {
                let faces = store.enrolled_faces().unwrap_or_default();
                match faces.get(random.below(faces.len().max(1))) {
                    Some(face) => store
                        .remove_face(face.member_id.as_deref().unwrap_or(""), &face.id)
                        .map(drop)
                        .map_err(drop)
                        .or(Ok(())),
                    None => Ok(()),
                }
            }
        };
    }

    /// Applies `version` as the watch would hand it to a door.
    fn apply(store: &Store, bucket: &Bucket, version: &Version) {
        let images: Vec<StoredImage> = match (&version.key, &version.value) {
            (RecordKey::Face(_), Some(value)) => {
                let face: Face = serde_json::from_slice(value).unwrap();
                vec![bucket.images[&face.image_id].clone()]
            }
            _ => Vec::new(),
        };
        store
            .apply_site_record(SiteRecord {
                key: &version.key,
                value: version.value.as_deref(),
                images: &images,
                revision: version.revision,
            })
            .unwrap();
    }

    /// Every row of `table`, shown by `show`, sorted.
    fn rows<K: redb::Key + 'static, V: redb::Value + 'static>(
        txn: &redb::ReadTransaction,
        table: TableDefinition<K, V>,
        show: impl Fn(&redb::AccessGuard<K>, &redb::AccessGuard<V>) -> String,
    ) -> Vec<String> {
        let table = txn.open_table(table).unwrap();
        let mut rows: Vec<String> = table
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, value) = entry.unwrap();
                show(&key, &value)
            })
            .collect();
        rows.sort();
        rows
    }

    /// What a door holds of the site's records, every table and index
    /// included, as text to compare.
    fn contents(store: &Store) -> String {
        use super::super::records::decode;
        use super::super::schema::{FACES, IMAGE_FACES, MEMBER_FACES};
        let txn = store.read().unwrap();
        let tables = [
            rows(&txn, WATCHLISTS, |k, v| {
                format!(
                    "{} {:?}",
                    k.value(),
                    decode::<Watchlist>(v.value()).unwrap()
                )
            }),
            rows(&txn, MEMBERS, |k, v| {
                format!("{} {:?}", k.value(), decode::<Member>(v.value()).unwrap())
            }),
            rows(&txn, FACES, |k, v| {
                let face: Face = decode(v.value()).unwrap();
                let (member, image) = (face.member_id, face.image_id);
                format!("{} {member:?} {image} {:?}", k.value(), face.template)
            }),
            rows(&txn, IMAGES, |k, _| k.value().to_string()),
            key_rows(&txn, WATCHLIST_MEMBERS),
            key_rows(&txn, MEMBER_FACES),
            key_rows(&txn, MEMBERS_BY_CREATION),
            key_rows(&txn, WATCHLISTS_BY_CREATION),
            multimap_rows(&txn, MEMBER_WATCHLISTS),
            multimap_rows(&txn, IMAGE_FACES),
        ];
        format!("{tables:#?}")
    }

    /// The keys of an index table, sorted.
    fn key_rows<K: redb::Key + 'static>(
        txn: &redb::ReadTransaction,
        table: TableDefinition<K, ()>,
    ) -> Vec<String>
    where
        for<'a> K::SelfType<'a>: std::fmt::Debug,
    {
        rows(txn, table, |key, _| format!("{:?}", key.value()))
    }

    fn multimap_rows(
        txn: &redb::ReadTransaction,
        table: redb::MultimapTableDefinition<&str, &str>,
    ) -> Vec<String> {
        let mut pairs = Vec::new();
        for entry in txn.open_multimap_table(table).unwrap().iter().unwrap() {
            let (key, values) = entry.unwrap();
            for value in values {
                pairs.push(format!("{} {}", key.value(), value.unwrap().value()));
            }
        }
        pairs.sort();
        pairs
    }

    #[test]
    fn doors_applying_the_sites_records_in_any_order_or_from_any_revision_hold_what_the_writer_holds(
    ) {
        for seed in 1..=60u64 {
            let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (_writer_dir, writer) = store();
            let site = Arc::new(FakeSite(Mutex::new(Bucket::default())));
            writer.join_site(site.clone());
            for step in 0..40 {
                random_write(&writer, &mut random, step);
            }
            let bucket = site.0.lock().unwrap();
            let wanted = contents(&writer);
            let latest = bucket.latest();
            // A door that joins: the latest versions, in any order.
            let mut shuffled = latest.clone();
            random.shuffle(&mut shuffled);
            let (_dir, joined) = store();
            for version in &shuffled {
                apply(&joined, &bucket, version);
            }
            assert_eq!(
                contents(&joined),
                wanted,
                "seed {seed}, joined in any order"
            );
            // A door that was offline from revision `back`: every version
            // before, in order, then the latest from there on (some of
            // them again).
            let back = 1 + random.below(bucket.history.len().max(1)) as u64;
            let (_dir, returning) = store();
            for version in bucket.history.iter().filter(|v| v.revision < back) {
                apply(&returning, &bucket, version);
            }
            let replay_from = back.saturating_sub(random.below(3) as u64);
            for version in latest.iter().filter(|v| v.revision >= replay_from) {
                apply(&returning, &bucket, version);
            }
            assert_eq!(
                contents(&returning),
                wanted,
                "seed {seed}, back from revision {back}"
            );
        }
    }

    #[test]
    fn any_id_makes_a_key_the_bucket_takes_and_reads_back() {
        for id in ["staff", "a b/c.d*>", "ünïcode"] {
            let key = RecordKey::Member(id.to_string());
            let text = key.key();
            let allowed = |c: char| c.is_ascii_alphanumeric() || c == '.';
            assert!(text.chars().all(allowed), "{text}");
            assert_eq!(RecordKey::parse(&text), Some(key));
        }
        assert_eq!(RecordKey::parse("member.4"), None);
        assert_eq!(RecordKey::parse("other.41"), None);
    }

    #[test]
    fn an_unreadable_record_is_skipped_and_the_door_goes_on_following() {
        let (_dir, store) = store();
        let key = RecordKey::Watchlist("w".into());
        let unreadable = SiteRecord {
            key: &key,
            value: Some(b"{not json"),
            images: &[],
            revision: 7,
        };
        assert!(store.apply_site_record(unreadable).unwrap().is_none());
        assert_eq!(store.applied_site_revision().unwrap(), 7);
        assert_eq!(store.watchlist("w").unwrap(), None);
    }

    #[test]
    fn a_revision_the_door_has_is_not_applied_again_over_a_later_one() {
        let (_dir, store) = store();
        let key = RecordKey::Member("m".into());
        let record = |note: &str| {
            let member = Member {
                id: "m".into(),
                display_name: None,
                full_name: None,
                note: Some(note.into()),
                labels: Vec::new(),
                created_at: super::super::Timestamp(1),
                updated_at: None,
            };
            json(&MemberRecord {
                member,
                watchlists: Vec::new(),
                faces: Vec::new(),
            })
        };
        let (later, earlier) = (record("later"), record("earlier"));
        let apply = |value: &[u8], revision| {
            store.apply_site_record(SiteRecord {
                key: &key,
                value: Some(value),
                images: &[],
                revision,
            })
        };
        assert!(apply(&later, 9).unwrap().is_some());
        assert!(apply(&earlier, 8).unwrap().is_none());
        let note = store.member("m").unwrap().unwrap().note;
        assert_eq!(note.as_deref(), Some("later"));
    }
}
