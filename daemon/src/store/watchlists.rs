//! Watchlists: create, upsert, read, delete, list, and their members.

use super::paging::{Page, PageRequest};
use super::records::{encode, Member, Timestamp, Watchlist};
use super::schema::{
    MEMBERS, MEMBER_WATCHLISTS, WATCHLISTS, WATCHLISTS_BY_CREATION, WATCHLIST_MEMBERS,
};
use super::{get_record, list_in_creation_order, owned_by, page_owned_by, Store, StoreError};
use redb::{ReadableTable, WriteTransaction};

/// The client-settable fields of a watchlist. `None` takes the default on
/// creation and keeps the stored value on update.
#[derive(Debug, Clone, Default)]
pub struct WatchlistFields {
    pub display_name: String,
    pub full_name: String,
    pub threshold: Option<i32>,
    pub preview_color: Option<String>,
}

/// SmartFace's default matching threshold of a watchlist.
pub const DEFAULT_THRESHOLD: i32 = 40;

/// Colours given to watchlists created without one, picked by id so that
/// neighbouring watchlists look different in a client's UI.
const PREVIEW_PALETTE: [&str; 8] = [
    "#4caf50", "#2196f3", "#ff9800", "#9c27b0", "#f44336", "#009688", "#795548", "#607d8b",
];

fn default_preview_color(id: &str) -> String {
    let hash = id.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    PREVIEW_PALETTE[hash % PREVIEW_PALETTE.len()].to_string()
}

impl Store {
    /// Stores a new watchlist under `id`; `None` if the id is taken.
    pub fn create_watchlist(
        &self,
        id: &str,
        fields: WatchlistFields,
    ) -> Result<Option<Watchlist>, StoreError> {
        self.write_replicated(|txn, touched| {
            if txn.open_table(WATCHLISTS)?.get(id)?.is_some() {
                return Ok(None);
            }
            touched.watchlist(id);
            insert_new(txn, id, fields).map(Some)
        })
    }

    /// Updates the watchlist `id`, or creates it with that id when absent.
    pub fn upsert_watchlist(
        &self,
        id: &str,
        fields: WatchlistFields,
    ) -> Result<Watchlist, StoreError> {
        self.write_replicated(|txn, touched| {
            touched.watchlist(id);
            let existing: Option<Watchlist> = get_record(&txn.open_table(WATCHLISTS)?, id)?;
            let Some(mut watchlist) = existing else {
                return insert_new(txn, id, fields);
            };
            watchlist.display_name = fields.display_name;
            watchlist.full_name = fields.full_name;
            if let Some(threshold) = fields.threshold {
                watchlist.threshold = threshold;
            }
            if let Some(color) = fields.preview_color {
                watchlist.preview_color = color;
            }
            watchlist.updated_at = Some(Timestamp::now());
            txn.open_table(WATCHLISTS)?
                .insert(id, encode(&watchlist)?.as_slice())?;
            Ok(watchlist)
        })
    }

    pub fn watchlist(&self, id: &str) -> Result<Option<Watchlist>, StoreError> {
        get_record(&self.read()?.open_table(WATCHLISTS)?, id)
    }

    /// Deletes the watchlist and its links; the members themselves stay.
    /// Returns whether it existed.
    pub fn delete_watchlist(&self, id: &str) -> Result<bool, StoreError> {
        self.write_replicated(|txn, touched| {
            let linked = delete_watchlist_in(txn, id)?;
            if let Some(linked) = &linked {
                touched.watchlist(id);
                // Their records list the watchlist no more.
                linked.iter().for_each(|member| touched.member(member));
            }
            Ok(linked.is_some())
        })
    }

    pub fn list_watchlists(&self, request: &PageRequest) -> Result<Page<Watchlist>, StoreError> {
        list_in_creation_order(&*self.read()?, WATCHLISTS_BY_CREATION, WATCHLISTS, request)
    }

    /// The members of watchlist `id` in their creation order; `None` when
    /// the watchlist does not exist.
    pub fn watchlist_members(
        &self,
        id: &str,
        request: &PageRequest,
    ) -> Result<Option<Page<Member>>, StoreError> {
        page_owned_by(
            &*self.read()?,
            WATCHLISTS,
            WATCHLIST_MEMBERS,
            MEMBERS,
            id,
            request,
        )
    }
}

/// Deletes the watchlist and its links; the members it had, or `None`
/// when there is no such watchlist.
pub(super) fn delete_watchlist_in(
    txn: &WriteTransaction,
    id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let existing: Option<Watchlist> = get_record(&txn.open_table(WATCHLISTS)?, id)?;
    let Some(watchlist) = existing else {
        return Ok(None);
    };
    let mut links = txn.open_table(WATCHLIST_MEMBERS)?;
    let linked: Vec<(u64, String)> = links
        .range(owned_by(id))?
        .map(|entry| {
            let (key, _) = entry?;
            let (_, created, member) = key.value();
            Ok((created, member.to_string()))
        })
        .collect::<Result<_, StoreError>>()?;
    let mut member_watchlists = txn.open_multimap_table(MEMBER_WATCHLISTS)?;
    for (created, member) in &linked {
        links.remove((id, *created, member.as_str()))?;
        member_watchlists.remove(member.as_str(), id)?;
    }
    txn.open_table(WATCHLISTS_BY_CREATION)?
        .remove((watchlist.created_at.0, id))?;
    txn.open_table(WATCHLISTS)?.remove(id)?;
    Ok(Some(linked.into_iter().map(|(_, member)| member).collect()))
}

fn insert_new(
    txn: &WriteTransaction,
    id: &str,
    fields: WatchlistFields,
) -> Result<Watchlist, StoreError> {
    let watchlist = Watchlist {
        id: id.to_string(),
        display_name: fields.display_name,
        full_name: fields.full_name,
        threshold: fields.threshold.unwrap_or(DEFAULT_THRESHOLD),
        preview_color: fields
            .preview_color
            .unwrap_or_else(|| default_preview_color(id)),
        created_at: Timestamp::now(),
        updated_at: None,
    };
    txn.open_table(WATCHLISTS)?
        .insert(id, encode(&watchlist)?.as_slice())?;
    txn.open_table(WATCHLISTS_BY_CREATION)?
        .insert((watchlist.created_at.0, id), ())?;
    Ok(watchlist)
}
