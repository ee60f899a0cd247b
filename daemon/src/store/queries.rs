//! Reads for the query front end (GraphQL): the records one query walks,
//! in the order of the index that fits it, handed one at a time to a
//! visitor that keeps what it wants and says when to stop. A query so
//! holds its page and its sort keys, never the whole database.

use super::records::{decode, Face, Member, Watchlist};
use super::schema::{
    CAMERA_FACES, EVENTS, FACES, IMAGE_FACES, MEMBERS, MEMBERS_BY_CREATION, MEMBER_FACES,
    MEMBER_WATCHLISTS, WATCHLISTS, WATCHLISTS_BY_CREATION, WATCHLIST_MEMBERS,
};
use super::{get_record, owned_by, Event, Store, StoreError};
use redb::ReadableTable;
use serde::de::DeserializeOwned;
use std::ops::{ControlFlow, RangeInclusive};

/// Where a member query starts: the index that holds every member the
/// query's filter can accept.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberScope {
    /// Every member, in creation order.
    All,
    /// Members created within these nanoseconds since the epoch.
    CreatedWithin(RangeInclusive<u64>),
    /// The members of one watchlist, in their creation order.
    InWatchlist(String),
    /// The members with these ids (missing ones skipped).
    Ids(Vec<String>),
}

/// Where a face query starts.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceScope {
    /// Every face, in id order.
    All,
    Ids(Vec<String>),
    /// The faces made from one image.
    OfImage(String),
    /// The faces the camera saw within these nanoseconds, oldest first.
    SeenWithin(RangeInclusive<u64>),
}

/// What a visitor answers for each record: go on, or stop.
pub type Visit<'a, T> = &'a mut dyn FnMut(T) -> ControlFlow<()>;

/// Hands each value the keys name to `visit`, skipping ids with no record
/// (a list of ids from a client may name anything).
fn visit_records<T: DeserializeOwned>(
    records: &impl ReadableTable<&'static str, &'static [u8]>,
    ids: impl Iterator<Item = Result<String, StoreError>>,
    visit: Visit<'_, T>,
) -> Result<(), StoreError> {
    for id in ids {
        if let Some(record) = get_record(records, &id?)? {
            if visit(record).is_break() {
                break;
            }
        }
    }
    Ok(())
}

/// `keys` in order, or reversed.
fn ordered<'a, T: 'a>(
    keys: impl DoubleEndedIterator<Item = T> + 'a,
    newest_first: bool,
) -> Box<dyn Iterator<Item = T> + 'a> {
    match newest_first {
        true => Box::new(keys.rev()),
        false => Box::new(keys),
    }
}

impl Store {
    /// Visits the members of `scope`; creation order unless `newest_first`.
    pub fn visit_members(
        &self,
        scope: &MemberScope,
        newest_first: bool,
        visit: Visit<'_, Member>,
    ) -> Result<(), StoreError> {
        let txn = self.read()?;
        let members = txn.open_table(MEMBERS)?;
        match scope {
            MemberScope::All | MemberScope::CreatedWithin(_) => {
                let (from, to) = match scope {
                    MemberScope::CreatedWithin(range) => (*range.start(), *range.end()),
                    _ => (0, u64::MAX),
                };
                let index = txn.open_table(MEMBERS_BY_CREATION)?;
                let keys = index.range((from, "")..=(to, "\u{10FFFF}"))?;
                let ids = ordered(keys, newest_first).map(|key| Ok(key?.0.value().1.to_string()));
                visit_records(&members, ids, visit)
            }
            MemberScope::InWatchlist(watchlist) => {
                let index = txn.open_table(WATCHLIST_MEMBERS)?;
                let keys = index.range(owned_by(watchlist))?;
                let ids = ordered(keys, newest_first).map(|key| Ok(key?.0.value().2.to_string()));
                visit_records(&members, ids, visit)
            }
            MemberScope::Ids(ids) => visit_records(&members, ids.iter().cloned().map(Ok), visit),
        }
    }

    /// Every watchlist in creation order: a door has a handful.
    pub fn all_watchlists(&self) -> Result<Vec<Watchlist>, StoreError> {
        let txn = self.read()?;
        let watchlists = txn.open_table(WATCHLISTS)?;
        let index = txn.open_table(WATCHLISTS_BY_CREATION)?;
        let mut all = Vec::new();
        let ids = index.iter()?.map(|key| Ok(key?.0.value().1.to_string()));
        visit_records(&watchlists, ids, &mut |watchlist| {
            all.push(watchlist);
            ControlFlow::Continue(())
        })?;
        Ok(all)
    }

    /// The ids of the watchlists a member is on.
    pub fn watchlists_of(&self, member_id: &str) -> Result<Vec<String>, StoreError> {
        let txn = self.read()?;
        let links = txn.open_multimap_table(MEMBER_WATCHLISTS)?;
        links
            .get(member_id)?
            .map(|id| Ok(id?.value().to_string()))
            .collect()
    }

    /// A member's registered faces in creation order.
    pub fn faces_of(&self, member_id: &str) -> Result<Vec<Face>, StoreError> {
        let txn = self.read()?;
        let faces = txn.open_table(FACES)?;
        let index = txn.open_table(MEMBER_FACES)?;
        let mut all = Vec::new();
        let ids = index
            .range(owned_by(member_id))?
            .map(|key| Ok(key?.0.value().2.to_string()));
        visit_records(&faces, ids, &mut |face| {
            all.push(face);
            ControlFlow::Continue(())
        })?;
        Ok(all)
    }

    pub fn face(&self, id: &str) -> Result<Option<Face>, StoreError> {
        get_record(&self.read()?.open_table(FACES)?, id)
    }

    /// Visits the faces of `scope` (newest first only for `SeenWithin`).
    pub fn visit_faces(
        &self,
        scope: &FaceScope,
        newest_first: bool,
        visit: Visit<'_, Face>,
    ) -> Result<(), StoreError> {
        let txn = self.read()?;
        let faces = txn.open_table(FACES)?;
        match scope {
            FaceScope::All => {
                for entry in faces.iter()? {
                    if visit(decode(entry?.1.value())?).is_break() {
                        break;
                    }
                }
                Ok(())
            }
            FaceScope::Ids(ids) => visit_records(&faces, ids.iter().cloned().map(Ok), visit),
            FaceScope::OfImage(image) => {
                let users = txn.open_multimap_table(IMAGE_FACES)?;
                let ids = users
                    .get(image.as_str())?
                    .map(|id| Ok(id?.value().to_string()));
                visit_records(&faces, ids, visit)
            }
            FaceScope::SeenWithin(range) => {
                let index = txn.open_table(CAMERA_FACES)?;
                let keys = index.range((*range.start(), "")..=(*range.end(), "\u{10FFFF}"))?;
                let ids = ordered(keys, newest_first).map(|key| Ok(key?.0.value().1.to_string()));
                visit_records(&faces, ids, visit)
            }
        }
    }

    /// Visits the kept events, oldest first unless `newest_first`.
    pub fn visit_events(
        &self,
        newest_first: bool,
        visit: Visit<'_, Event>,
    ) -> Result<(), StoreError> {
        let txn = self.read()?;
        let events = txn.open_table(EVENTS)?;
        for entry in ordered(events.iter()?, newest_first) {
            if visit(decode(entry?.1.value())?).is_break() {
                break;
            }
        }
        Ok(())
    }
}
