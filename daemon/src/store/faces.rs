//! Faces and images: registering a member with faces, adding, attaching
//! and removing faces, and reading images.

use super::paging::{Page, PageRequest};
use super::records::{encode, Face, Member, StoredImage, Timestamp, Watchlist};
use super::schema::{FACES, IMAGES, MEMBERS, MEMBER_FACES, MEMBER_WATCHLISTS, WATCHLISTS};
use super::{get_record, get_records, owned_by, page_owned_by, MemberFields, Store, StoreError};
use redb::{ReadableMultimapTable, ReadableTable, WriteTransaction};

/// Why a face operation was refused; nothing was changed.
#[derive(Debug)]
pub enum FaceError {
    MemberExists,
    MemberNotFound,
    WatchlistNotFound(String),
    FaceNotFound,
    /// The face belongs to another member.
    FaceTaken,
    Store(StoreError),
}

impl From<StoreError> for FaceError {
    fn from(e: StoreError) -> Self {
        FaceError::Store(e)
    }
}

super::engine_errors_into!(FaceError);

/// A member with its faces and watchlists, as Register returns it.
pub struct Registered {
    pub member: Member,
    pub watchlists: Vec<Watchlist>,
    pub faces: Vec<Face>,
}

impl Store {
    /// Creates the member, links it to the watchlists and stores its faces
    /// and images, all in one transaction: all of it or none.
    pub fn register(
        &self,
        id: &str,
        fields: MemberFields,
        watchlist_ids: &[String],
        faces: Vec<(Face, StoredImage)>,
    ) -> Result<Registered, FaceError> {
        self.write(|txn| {
            if txn.open_table(MEMBERS)?.get(id)?.is_some() {
                return Err(FaceError::MemberExists);
            }
            let watchlists = watchlist_ids
                .iter()
                .map(|w| {
                    get_record(&txn.open_table(WATCHLISTS)?, w)?
                        .ok_or_else(|| FaceError::WatchlistNotFound(w.clone()))
                })
                .collect::<Result<Vec<Watchlist>, FaceError>>()?;
            let member = super::members::insert_new(txn, id, fields)?;
            super::members::link_in(txn, &member, watchlist_ids)?;
            let faces = faces
                .into_iter()
                .map(|(face, image)| insert_face(txn, face, &image))
                .collect::<Result<_, StoreError>>()?;
            Ok(Registered {
                member,
                watchlists,
                faces,
            })
        })
    }

    /// Stores one more face of an existing member.
    pub fn add_face(
        &self,
        member_id: &str,
        face: Face,
        image: StoredImage,
    ) -> Result<Face, FaceError> {
        self.write(|txn| {
            if txn.open_table(MEMBERS)?.get(member_id)?.is_none() {
                return Err(FaceError::MemberNotFound);
            }
            Ok(insert_face(txn, face, &image)?)
        })
    }

    /// Makes a stored face one of the member's; attaching one of its own
    /// faces again changes nothing. Returns the face.
    pub fn attach_face(&self, member_id: &str, face_id: &str) -> Result<Face, FaceError> {
        self.write(|txn| {
            if txn.open_table(MEMBERS)?.get(member_id)?.is_none() {
                return Err(FaceError::MemberNotFound);
            }
            let mut face: Face =
                get_record(&txn.open_table(FACES)?, face_id)?.ok_or(FaceError::FaceNotFound)?;
            match face.member_id.as_deref() {
                Some(owner) if owner == member_id => return Ok(face),
                Some(_) => return Err(FaceError::FaceTaken),
                None => {}
            }
            face.member_id = Some(member_id.to_string());
            face.updated_at = Some(Timestamp::now());
            put_face(txn, &face)?;
            Ok(face)
        })
    }

    /// Deletes one of the member's faces (its image stays, it may be shared).
    pub fn remove_face(&self, member_id: &str, face_id: &str) -> Result<Face, FaceError> {
        self.write(|txn| {
            if txn.open_table(MEMBERS)?.get(member_id)?.is_none() {
                return Err(FaceError::MemberNotFound);
            }
            let face: Face =
                get_record(&txn.open_table(FACES)?, face_id)?.ok_or(FaceError::FaceNotFound)?;
            if face.member_id.as_deref() != Some(member_id) {
                return Err(FaceError::FaceNotFound);
            }
            delete_face(txn, &face)?;
            Ok(face)
        })
    }

    /// A member's faces in creation order; `None` if there is no member.
    pub fn member_faces(
        &self,
        member_id: &str,
        request: &PageRequest,
    ) -> Result<Option<Page<Face>>, StoreError> {
        page_owned_by(
            &self.read()?,
            MEMBERS,
            MEMBER_FACES,
            FACES,
            member_id,
            request,
        )
    }

    /// The watchlists a member belongs to.
    pub fn member_watchlists(&self, member_id: &str) -> Result<Vec<Watchlist>, StoreError> {
        let txn = self.read()?;
        let links = txn.open_multimap_table(MEMBER_WATCHLISTS)?;
        let watchlists = txn.open_table(WATCHLISTS)?;
        let ids: Vec<String> = links
            .get(member_id)?
            .map(|id| Ok(id?.value().to_string()))
            .collect::<Result<_, StoreError>>()?;
        get_records(&watchlists, &ids)
    }

    pub fn image(&self, id: &str) -> Result<Option<StoredImage>, StoreError> {
        get_record(&self.read()?.open_table(IMAGES)?, id)
    }

    /// Every enrolled face, to build the search index at start.
    pub fn enrolled_faces(&self) -> Result<Vec<Face>, StoreError> {
        let txn = self.read()?;
        let faces = txn.open_table(FACES)?;
        let mut enrolled = Vec::new();
        for entry in faces.iter()? {
            let (_, bytes) = entry?;
            let face: Face = super::records::decode(bytes.value())?;
            if face.member_id.is_some() {
                enrolled.push(face);
            }
        }
        Ok(enrolled)
    }
}

fn put_face(txn: &WriteTransaction, face: &Face) -> Result<(), StoreError> {
    txn.open_table(FACES)?
        .insert(face.id.as_str(), encode(face)?.as_slice())?;
    if let Some(member) = &face.member_id {
        txn.open_table(MEMBER_FACES)?
            .insert((member.as_str(), face.created_at.0, face.id.as_str()), ())?;
    }
    Ok(())
}

fn insert_face(
    txn: &WriteTransaction,
    face: Face,
    image: &StoredImage,
) -> Result<Face, StoreError> {
    txn.open_table(IMAGES)?
        .insert(image.id.as_str(), encode(image)?.as_slice())?;
    put_face(txn, &face)?;
    Ok(face)
}

pub(super) fn delete_face(txn: &WriteTransaction, face: &Face) -> Result<(), StoreError> {
    if let Some(member) = &face.member_id {
        txn.open_table(MEMBER_FACES)?.remove((
            member.as_str(),
            face.created_at.0,
            face.id.as_str(),
        ))?;
    }
    txn.open_table(FACES)?.remove(face.id.as_str())?;
    Ok(())
}

/// The faces of a member, for deleting them with it.
pub(super) fn faces_of(txn: &WriteTransaction, member: &str) -> Result<Vec<Face>, StoreError> {
    let ids: Vec<String> = txn
        .open_table(MEMBER_FACES)?
        .range(owned_by(member))?
        .map(|entry| {
            let (key, _) = entry?;
            Ok(key.value().2.to_string())
        })
        .collect::<Result<_, StoreError>>()?;
    get_records(&txn.open_table(FACES)?, &ids)
}

impl Store {
    /// Every (member, watchlist) link, to build the search index at start.
    pub fn all_links(&self) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.read()?;
        let mut links = Vec::new();
        for entry in txn.open_multimap_table(MEMBER_WATCHLISTS)?.iter()? {
            let (member, watchlists) = entry?;
            for watchlist in watchlists {
                links.push((member.value().to_string(), watchlist?.value().to_string()));
            }
        }
        Ok(links)
    }
}
