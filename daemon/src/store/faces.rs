//! Faces and images: registering a member with faces, adding, attaching
//! and removing faces, and reading images.

use super::paging::{Page, PageRequest};
use super::records::{encode, Face, Member, StoredImage, Timestamp, Watchlist};
use super::schema::{
    CAMERA_FACES, FACES, IMAGES, IMAGE_FACES, MEMBERS, MEMBER_FACES, MEMBER_WATCHLISTS, WATCHLISTS,
};
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
        self.write_replicated(|txn, touched| {
            if txn.open_table(MEMBERS)?.get(id)?.is_some() {
                return Err(FaceError::MemberExists);
            }
            touched.member(id);
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
                .map(|(face, image)| {
                    touched.face(&face.id);
                    insert_face(txn, face, &image)
                })
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
        self.write_replicated(|txn, touched| {
            if txn.open_table(MEMBERS)?.get(member_id)?.is_none() {
                return Err(FaceError::MemberNotFound);
            }
            // The face is a record of its own: the member's is unchanged.
            touched.face(&face.id);
            Ok(insert_face(txn, face, &image)?)
        })
    }

    /// Makes a stored face one of the member's; attaching one of its own
    /// faces again changes nothing. Returns the face.
    pub fn attach_face(&self, member_id: &str, face_id: &str) -> Result<Face, FaceError> {
        self.write_replicated(|txn, touched| {
            if txn.open_table(MEMBERS)?.get(member_id)?.is_none() {
                return Err(FaceError::MemberNotFound);
            }
            touched.face(face_id);
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
            // A member's face is no longer the camera's to drop.
            txn.open_table(CAMERA_FACES)?
                .remove((face.created_at.0, face.id.as_str()))?;
            Ok(face)
        })
    }

    /// Deletes one of the member's faces, and its image when no other face
    /// uses it.
    pub fn remove_face(&self, member_id: &str, face_id: &str) -> Result<Face, FaceError> {
        self.write_replicated(|txn, touched| {
            if txn.open_table(MEMBERS)?.get(member_id)?.is_none() {
                return Err(FaceError::MemberNotFound);
            }
            touched.face(face_id);
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
            &*self.read()?,
            MEMBERS,
            MEMBER_FACES,
            FACES,
            member_id,
            request,
        )
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

    /// Every face, enrolled or not, whose template `model` did not make:
    /// the face-data migration's work.
    pub fn faces_not_made_by(&self, model: &str) -> Result<Vec<Face>, StoreError> {
        let txn = self.read()?;
        let mut faces = Vec::new();
        for entry in txn.open_table(FACES)?.iter()? {
            let face: Face = super::records::decode(entry?.1.value())?;
            if face.template_model != model {
                faces.push(face);
            }
        }
        Ok(faces)
    }

    /// Replaces the templates (and template model and quality) of stored
    /// faces, in one transaction; a face deleted meanwhile stays deleted.
    pub fn replace_templates(&self, updated: &[Face]) -> Result<(), StoreError> {
        self.write(|txn| {
            for new in updated {
                let stored: Option<Face> = get_record(&txn.open_table(FACES)?, &new.id)?;
                if let Some(mut face) = stored {
                    face.template.clone_from(&new.template);
                    face.template_quality = new.template_quality;
                    face.template_model.clone_from(&new.template_model);
                    put_face(txn, &face)?;
                }
            }
            Ok(())
        })
    }
}

pub(super) fn put_face(txn: &WriteTransaction, face: &Face) -> Result<(), StoreError> {
    txn.open_table(FACES)?
        .insert(face.id.as_str(), encode(face)?.as_slice())?;
    if let Some(member) = &face.member_id {
        txn.open_table(MEMBER_FACES)?
            .insert((member.as_str(), face.created_at.0, face.id.as_str()), ())?;
    }
    Ok(())
}

pub(super) fn insert_face(
    txn: &WriteTransaction,
    face: Face,
    image: &StoredImage,
) -> Result<Face, StoreError> {
    txn.open_table(IMAGES)?
        .insert(image.id.as_str(), encode(image)?.as_slice())?;
    txn.open_multimap_table(IMAGE_FACES)?
        .insert(image.id.as_str(), face.id.as_str())?;
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
    txn.open_table(CAMERA_FACES)?
        .remove((face.created_at.0, face.id.as_str()))?;
    // Biometric data no face needs any more is erased, not kept.
    let mut users = txn.open_multimap_table(IMAGE_FACES)?;
    users.remove(face.image_id.as_str(), face.id.as_str())?;
    if users.get(face.image_id.as_str())?.is_empty() {
        txn.open_table(IMAGES)?.remove(face.image_id.as_str())?;
    }
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

#[cfg(test)]
mod tests {
    use super::super::testing::{face, store};
    use super::*;

    fn register(store: &Store, member: &str, faces: Vec<(Face, StoredImage)>) {
        store
            .register(member, MemberFields::default(), &[], faces)
            .unwrap();
    }

    #[test]
    fn a_deleted_members_images_are_erased_with_its_faces() {
        let (_dir, store) = store();
        register(
            &store,
            "ann",
            vec![face("f1", "ann", vec![1.0], vec![1; 100])],
        );
        assert!(store.image("image-f1").unwrap().is_some());
        assert!(store.delete_member("ann").unwrap());
        assert!(store.image("image-f1").unwrap().is_none());
    }

    #[test]
    fn a_shared_image_lives_until_its_last_face_is_removed() {
        let (_dir, store) = store();
        // The same upload enrolled for two members: one content-addressed image.
        let (ann_face, image) = face("f1", "ann", vec![1.0], vec![7; 100]);
        let (mut bob_face, _) = face("f2", "bob", vec![1.0], vec![7; 100]);
        bob_face.image_id = image.id.clone();
        register(&store, "ann", vec![(ann_face, image.clone())]);
        register(&store, "bob", vec![(bob_face, image.clone())]);
        store.remove_face("ann", "f1").unwrap();
        assert!(
            store.image(&image.id).unwrap().is_some(),
            "bob still uses it"
        );
        store.remove_face("bob", "f2").unwrap();
        assert!(store.image(&image.id).unwrap().is_none());
    }

    #[test]
    fn the_database_does_not_grow_across_register_delete_cycles() {
        let (dir, store) = store();
        let file = dir.path().join(super::super::DATABASE_FILE);
        let photo = |cycle: u32| -> Vec<u8> {
            // 60 KB, different per cycle, like real photos.
            (0..60_000u32).map(|i| (i ^ cycle) as u8).collect()
        };
        let size_after = |cycles: std::ops::Range<u32>| {
            for cycle in cycles {
                let id = format!("m{cycle}");
                let faces = vec![face(
                    &format!("f{cycle}"),
                    &id,
                    vec![0.5; 512],
                    photo(cycle),
                )];
                register(&store, &id, faces);
                assert!(store.delete_member(&id).unwrap());
            }
            std::fs::metadata(&file).unwrap().len()
        };
        let warmed_up = size_after(0..100);
        let later = size_after(100..1000);
        assert!(
            later <= warmed_up + warmed_up / 10,
            "the file grew from {warmed_up} to {later} bytes"
        );
    }
}
