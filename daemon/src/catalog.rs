//! The enrolled people as one consistent whole: the durable store and the
//! in-memory search index, changed together.
//!
//! Every change that the index mirrors (faces, links, deletions) commits to
//! the store and then updates the index while holding one writer lock, so
//! the index applies changes in the order the store committed them and two
//! requests on one member can never leave the index disagreeing with the
//! store (a face that no longer exists matching again, say). redb already
//! runs one write transaction at a time, so the lock costs only the index
//! update. Reads go to the store (`store`) or the index (`search`) directly.

use crate::gallery::{Candidate, Gallery, Scope};
use crate::store::{
    Applied, Face, FaceError, LinkError, MemberFields, Registered, SiteRecord, Store, StoreError,
    StoredImage,
};
use std::sync::Mutex;

pub struct Catalog {
    /// Reads, and the writes the index does not mirror (names, notes,
    /// watchlist settings, events).
    pub store: Store,
    index: Gallery,
    writer: Mutex<()>,
    /// The engine's template model: the index holds only its templates.
    template_model: String,
}

#[cfg(test)]
thread_local! {
    /// Holds this thread between a commit and its index update, as a
    /// descheduled request thread would, so tests meet that window.
    static COMMIT_TO_INDEX_DELAY: std::cell::Cell<std::time::Duration> =
        const { std::cell::Cell::new(std::time::Duration::ZERO) };
}

impl Catalog {
    /// Builds the index from `store`'s templates of `template_model`.
    pub fn load(store: Store, template_model: &str) -> Result<Catalog, StoreError> {
        let index = Gallery::load(&store, template_model)?;
        Ok(Catalog {
            store,
            index,
            writer: Mutex::default(),
            template_model: template_model.to_string(),
        })
    }

    /// Commits `commit` to the store, then applies it to the index, both
    /// under the writer lock.
    fn change<T, E>(
        &self,
        commit: impl FnOnce(&Store) -> Result<T, E>,
        apply: impl FnOnce(&Gallery, &T),
    ) -> Result<T, E> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let committed = commit(&self.store)?;
        #[cfg(test)]
        std::thread::sleep(COMMIT_TO_INDEX_DELAY.get());
        apply(&self.index, &committed);
        Ok(committed)
    }

    /// Creates the member with its faces and links (see `Store::register`).
    pub fn register(
        &self,
        id: &str,
        fields: MemberFields,
        watchlist_ids: &[String],
        faces: Vec<(Face, StoredImage)>,
    ) -> Result<Registered, FaceError> {
        self.change(
            |store| store.register(id, fields, watchlist_ids, faces),
            |index, registered| {
                for face in &registered.faces {
                    index.insert(&face.id, id, &face.template);
                }
                for watchlist in watchlist_ids {
                    index.link(watchlist, std::slice::from_ref(&registered.member.id));
                }
            },
        )
    }

    pub fn add_face(
        &self,
        member_id: &str,
        face: Face,
        image: StoredImage,
    ) -> Result<Face, FaceError> {
        self.change(
            |store| store.add_face(member_id, face, image),
            |index, face| index.insert(&face.id, member_id, &face.template),
        )
    }

    pub fn attach_face(&self, member_id: &str, face_id: &str) -> Result<Face, FaceError> {
        self.change(
            |store| store.attach_face(member_id, face_id),
            |index, face| index.insert(&face.id, member_id, &face.template),
        )
    }

    pub fn remove_face(&self, member_id: &str, face_id: &str) -> Result<Face, FaceError> {
        self.change(
            |store| store.remove_face(member_id, face_id),
            |index, face| index.remove(&face.id),
        )
    }

    /// Deletes the member with its faces and links; whether it existed.
    pub fn delete_member(&self, id: &str) -> Result<bool, StoreError> {
        self.change(
            |store| store.delete_member(id),
            |index, _| index.remove_member(id),
        )
    }

    /// Links every member to the watchlist, or unlinks every one.
    pub fn change_links(
        &self,
        watchlist: &str,
        members: &[String],
        link: bool,
    ) -> Result<(), LinkError> {
        match link {
            true => self.change(
                |store| store.link(watchlist, members),
                |index, ()| index.link(watchlist, members),
            ),
            false => self.change(
                |store| store.unlink(watchlist, members),
                |index, ()| index.unlink(watchlist, members),
            ),
        }
    }

    /// Deletes the watchlist and its links; whether it existed.
    pub fn delete_watchlist(&self, id: &str) -> Result<bool, StoreError> {
        self.change(
            |store| store.delete_watchlist(id),
            |index, _| index.forget_watchlist(id),
        )
    }

    /// Applies a record from the site (see `Store::apply_site_record`).
    /// A face whose template another network made is stored but not
    /// searched until its template is made again here.
    pub fn apply_site_record(&self, record: SiteRecord) -> Result<(), StoreError> {
        self.change(
            |store| store.apply_site_record(record),
            |index, applied| match applied {
                None | Some(Applied::Setting) => {}
                Some(Applied::Watchlist {
                    id,
                    deleted: false,
                    linked,
                }) => index.link(id, linked),
                Some(Applied::Watchlist {
                    id, deleted: true, ..
                }) => index.forget_watchlist(id),
                Some(Applied::Member { id, now }) => {
                    index.remove_member(id);
                    let Some(record) = now else {
                        return;
                    };
                    for face in &record.faces {
                        if face.template_model == self.template_model {
                            index.insert(&face.id, id, &face.template);
                        }
                    }
                    for watchlist in &record.watchlists {
                        index.link(watchlist, std::slice::from_ref(id));
                    }
                }
                Some(Applied::Face { id, now }) => {
                    index.remove(id);
                    let member = now
                        .as_ref()
                        .and_then(|face| Some((face, face.member_id.as_ref()?)));
                    if let Some((face, member)) = member {
                        if face.template_model == self.template_model {
                            index.insert(&face.id, member, &face.template);
                        }
                    }
                }
            },
        )
        .map(drop)
    }

    /// The best `limit` members (see `Gallery::search`).
    pub fn search(
        &self,
        probe: &[f32],
        scope: Scope,
        min_cosine: f32,
        limit: usize,
    ) -> Vec<Candidate> {
        self.index.search(probe, scope, min_cosine, limit)
    }

    /// Faces in the index.
    pub fn indexed_faces(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::IndexContents;
    use crate::store::testing::Random;
    use crate::store::{PageRequest, WatchlistFields};
    use facegate_models::TEMPLATE_DIMENSION;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    fn template(seed: usize) -> Vec<f32> {
        let mut v = vec![0.0; TEMPLATE_DIMENSION];
        v[seed % TEMPLATE_DIMENSION] = 1.0;
        v
    }

    fn face(id: &str, member: &str, seed: usize) -> (Face, StoredImage) {
        crate::store::testing::face(id, member, template(seed), vec![1, 2, 3])
    }

    fn all() -> PageRequest {
        PageRequest {
            number: 1,
            size: u32::MAX,
            ascending: true,
            with_total: false,
        }
    }

    /// What the store holds, in the index's terms.
    fn stored(store: &Store) -> IndexContents {
        let mut faces = BTreeSet::new();
        for member in store.list_members(&all()).unwrap().items {
            for face in store
                .member_faces(&member.id, &all())
                .unwrap()
                .unwrap()
                .items
            {
                faces.insert((face.id, member.id.clone()));
            }
        }
        let mut memberships: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for watchlist in store.list_watchlists(&all()).unwrap().items {
            let members = store.watchlist_members(&watchlist.id, &all()).unwrap();
            for member in members.unwrap().items {
                let watchlists = memberships.entry(member.id).or_default();
                watchlists.push(watchlist.id.clone());
                watchlists.sort();
            }
        }
        (faces, memberships)
    }

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let model = facegate_models::template_model(
            facegate_models::Precision::Fp32,
            false,
            facegate_models::Alignment::Landmarks,
        );
        let catalog = Catalog::load(Store::open(dir.path()).unwrap(), &model).unwrap();
        (dir, catalog)
    }

    fn watchlist(catalog: &Catalog, id: &str) {
        catalog
            .store
            .upsert_watchlist(id, WatchlistFields::default())
            .unwrap();
    }

    #[test]
    fn random_changes_keep_every_members_index_memberships_equal_to_the_stores() {
        let (_dir, catalog) = catalog();
        let mut random = Random(0x5eed);
        let (watchlists, members) = (["w0", "w1", "w2", "w3"], ["m0", "m1", "m2", "m3", "m4"]);
        let mut faces = 0;
        for step in 0..600 {
            let w = watchlists[random.below(watchlists.len())];
            let m = members[random.below(members.len())].to_string();
            match random.below(7) {
                0 => watchlist(&catalog, w),
                1 => {
                    catalog.delete_watchlist(w).unwrap();
                }
                2 | 3 => {
                    let _ = catalog.change_links(w, std::slice::from_ref(&m), true);
                }
                4 => {
                    let _ = catalog.change_links(w, std::slice::from_ref(&m), false);
                }
                5 => {
                    catalog.delete_member(&m).unwrap();
                }
                _ => {
                    faces += 1;
                    let (face, image) = face(&format!("f{faces}"), &m, faces);
                    if catalog.store.member(&m).unwrap().is_none() {
                        let _ =
                            catalog.register(&m, MemberFields::default(), &[], vec![(face, image)]);
                    } else {
                        catalog.add_face(&m, face, image).unwrap();
                    }
                }
            }
            assert_eq!(
                catalog.index.contents(),
                stored(&catalog.store),
                "after step {step}"
            );
        }
    }

    #[test]
    fn concurrent_changes_to_one_member_leave_the_index_equal_to_the_store() {
        // AddNewFace racing a delete of the member, link racing unlink.
        let (_dir, catalog) = catalog();
        let catalog = Arc::new(catalog);
        watchlist(&catalog, "staff");
        for round in 0..20 {
            let member = format!("m{round}");
            catalog
                .register(
                    &member,
                    MemberFields::default(),
                    &[],
                    vec![face(&format!("r{round}"), &member, round)],
                )
                .unwrap();
            // Each second request starts, and finishes, while the first
            // sits between its commit and its index update.
            let started_second = std::time::Duration::from_millis(5);
            let held = || COMMIT_TO_INDEX_DELAY.set(std::time::Duration::from_millis(30));
            let workers: Vec<_> = (0..4)
                .map(|worker| {
                    let (catalog, member) = (catalog.clone(), member.clone());
                    std::thread::spawn(move || match worker {
                        0 => {
                            held();
                            let (face, image) = face(&format!("a{round}"), &member, round + 1);
                            let _ = catalog.add_face(&member, face, image);
                        }
                        1 => {
                            std::thread::sleep(started_second);
                            let _ = catalog.delete_member(&member);
                        }
                        2 => {
                            held();
                            let _ = catalog.change_links("staff", &[member], true);
                        }
                        _ => {
                            std::thread::sleep(started_second);
                            let _ = catalog.change_links("staff", &[member], false);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(
                catalog.index.contents(),
                stored(&catalog.store),
                "round {round}"
            );
        }
    }
}
