//! Watchlist members and their links to watchlists.

use super::paging::{Page, PageRequest};
use super::records::{encode, Label, Member, Timestamp};
use super::schema::{
    MEMBERS, MEMBERS_BY_CREATION, MEMBER_WATCHLISTS, WATCHLISTS, WATCHLIST_MEMBERS,
};
use super::{get_record, list_in_creation_order, Store, StoreError};
use redb::{ReadableTable, WriteTransaction};

/// The client-settable fields of a member. An upsert replaces all of them.
#[derive(Debug, Clone, Default)]
pub struct MemberFields {
    pub display_name: Option<String>,
    pub full_name: Option<String>,
    pub note: Option<String>,
    pub labels: Vec<Label>,
}

/// Why a link or unlink request was refused; nothing was changed.
#[derive(Debug)]
pub enum LinkError {
    WatchlistNotFound,
    MemberNotFound(String),
    Store(StoreError),
}

impl From<StoreError> for LinkError {
    fn from(e: StoreError) -> Self {
        LinkError::Store(e)
    }
}

super::engine_errors_into!(LinkError);

impl Store {
    /// Stores a new member under `id`; `None` if the id is taken.
    pub fn create_member(
        &self,
        id: &str,
        fields: MemberFields,
    ) -> Result<Option<Member>, StoreError> {
        self.write_replicated(|txn, touched| {
            if txn.open_table(MEMBERS)?.get(id)?.is_some() {
                return Ok(None);
            }
            touched.member(id);
            insert_new(txn, id, fields).map(Some)
        })
    }

    /// Replaces the member `id`'s fields, or creates it with that id.
    pub fn upsert_member(&self, id: &str, fields: MemberFields) -> Result<Member, StoreError> {
        self.write_replicated(|txn, touched| {
            touched.member(id);
            let existing: Option<Member> = get_record(&txn.open_table(MEMBERS)?, id)?;
            let Some(mut member) = existing else {
                return insert_new(txn, id, fields);
            };
            member.display_name = fields.display_name;
            member.full_name = fields.full_name;
            member.note = fields.note;
            member.labels = fields.labels;
            member.updated_at = Some(Timestamp::now());
            put_member(txn, &member)?;
            Ok(member)
        })
    }

    pub fn member(&self, id: &str) -> Result<Option<Member>, StoreError> {
        get_record(&self.read()?.open_table(MEMBERS)?, id)
    }

    /// Deletes the member, its links and its faces. Returns whether it
    /// existed.
    pub fn delete_member(&self, id: &str) -> Result<bool, StoreError> {
        self.write_replicated(|txn, touched| {
            for face in super::faces::faces_of(txn, id)? {
                touched.face(&face.id);
            }
            let deleted = delete_member_in(txn, id)?;
            if deleted {
                touched.member(id);
            }
            Ok(deleted)
        })
    }

    pub fn list_members(&self, request: &PageRequest) -> Result<Page<Member>, StoreError> {
        list_in_creation_order(&*self.read()?, MEMBERS_BY_CREATION, MEMBERS, request)
    }

    /// Links every member to the watchlist, all or none. Linking a member
    /// twice is harmless.
    pub fn link(&self, watchlist: &str, members: &[String]) -> Result<(), LinkError> {
        self.change_links(watchlist, members, true)
    }

    /// Unlinks every member from the watchlist, all or none. Unlinking a
    /// member that is not linked is harmless.
    pub fn unlink(&self, watchlist: &str, members: &[String]) -> Result<(), LinkError> {
        self.change_links(watchlist, members, false)
    }

    fn change_links(
        &self,
        watchlist: &str,
        members: &[String],
        link: bool,
    ) -> Result<(), LinkError> {
        self.write_replicated(|txn, touched| {
            if txn.open_table(WATCHLISTS)?.get(watchlist)?.is_none() {
                return Err(LinkError::WatchlistNotFound);
            }
            members.iter().for_each(|member| touched.member(member));
            let records = txn.open_table(MEMBERS)?;
            let mut links = txn.open_table(WATCHLIST_MEMBERS)?;
            let mut member_watchlists = txn.open_multimap_table(MEMBER_WATCHLISTS)?;
            for id in members {
                let member: Member = get_record(&records, id)?
                    .ok_or_else(|| LinkError::MemberNotFound(id.clone()))?;
                let key = (watchlist, member.created_at.0, id.as_str());
                if link {
                    links.insert(key, ())?;
                    member_watchlists.insert(id.as_str(), watchlist)?;
                } else {
                    links.remove(key)?;
                    member_watchlists.remove(id.as_str(), watchlist)?;
                }
            }
            Ok(())
        })
    }
}

/// Deletes the member, its links and its faces; whether it existed.
pub(super) fn delete_member_in(txn: &WriteTransaction, id: &str) -> Result<bool, StoreError> {
    let existing: Option<Member> = get_record(&txn.open_table(MEMBERS)?, id)?;
    let Some(member) = existing else {
        return Ok(false);
    };
    let watchlists: Vec<String> = txn
        .open_multimap_table(MEMBER_WATCHLISTS)?
        .remove_all(id)?
        .map(|watchlist| Ok(watchlist?.value().to_string()))
        .collect::<Result<_, StoreError>>()?;
    let mut links = txn.open_table(WATCHLIST_MEMBERS)?;
    for watchlist in &watchlists {
        links.remove((watchlist.as_str(), member.created_at.0, id))?;
    }
    for face in super::faces::faces_of(txn, id)? {
        super::faces::delete_face(txn, &face)?;
    }
    txn.open_table(MEMBERS_BY_CREATION)?
        .remove((member.created_at.0, id))?;
    txn.open_table(MEMBERS)?.remove(id)?;
    super::site::forget_pending(txn, id)?;
    Ok(true)
}

pub(super) fn insert_new(
    txn: &WriteTransaction,
    id: &str,
    fields: MemberFields,
) -> Result<Member, StoreError> {
    let member = Member {
        id: id.to_string(),
        display_name: fields.display_name,
        full_name: fields.full_name,
        note: fields.note,
        labels: fields.labels,
        created_at: Timestamp::now(),
        updated_at: None,
    };
    put_member(txn, &member)?;
    txn.open_table(MEMBERS_BY_CREATION)?
        .insert((member.created_at.0, id), ())?;
    Ok(member)
}

pub(super) fn put_member(txn: &WriteTransaction, member: &Member) -> Result<(), StoreError> {
    txn.open_table(MEMBERS)?
        .insert(member.id.as_str(), encode(member)?.as_slice())?;
    Ok(())
}

/// Links `member` to every watchlist (which must exist).
pub(super) fn link_in(
    txn: &WriteTransaction,
    member: &Member,
    watchlists: &[String],
) -> Result<(), StoreError> {
    let mut links = txn.open_table(WATCHLIST_MEMBERS)?;
    let mut member_watchlists = txn.open_multimap_table(MEMBER_WATCHLISTS)?;
    for watchlist in watchlists {
        links.insert(
            (watchlist.as_str(), member.created_at.0, member.id.as_str()),
            (),
        )?;
        member_watchlists.insert(member.id.as_str(), watchlist.as_str())?;
    }
    Ok(())
}
