//! The site's watchlists, members and faces: a JetStream key-value bucket
//! per site (`FACEGATE_<site>`, one key per record, JSON) with the images
//! in an object store (`FACEGATE_<site>_IMAGES`, by content id).
//!
//! `SiteReplica` stores this door's changes in the bucket for the store
//! (`store::Replica`), called from request threads; `follow` applies every
//! change of the bucket here, in revision order, resuming after the last
//! revision applied, which the store keeps.

use super::{write_off_runtime, Names};
use crate::core::event::rfc3339;
use crate::core::Core;
use crate::migration::recompute_from;
use crate::store::{
    MemberRecord, RecordKey, Refusal, Replica, SiteChange, SiteRecord, StoredImage, Timestamp,
};
use async_nats::connection::State;
use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::{self, object_store};
use async_nats::Client;
use futures_util::StreamExt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a request waits for the site to store its change. The store's
/// write lock is held meanwhile, and the door logs its decisions under it
/// (after acting on them), so this is kept short: a stored record takes a
/// millisecond on a LAN.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// How soon a broken watch, or a bucket that could not be opened, is
/// tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The site's buckets, once opened.
#[derive(Clone)]
pub(super) struct Buckets {
    records: kv::Store,
    images: object_store::ObjectStore,
}

/// Opens the site's buckets, making them if this door is the first.
pub(super) async fn open(client: &Client, names: &Names) -> Result<Buckets, String> {
    let jetstream = jetstream::new(client.clone());
    let bucket = names.record_bucket();
    // async-nats makes a bucket after reading the account's limits in a
    // form nats-server 2.9 (Debian's) does not send, so the bucket's stream
    // is made here as the key-value convention (NATS ADR-8) lays it out.
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            storage: jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            num_replicas: names.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot make the site's record bucket: {e}"))?;
    let records = jetstream
        .get_key_value(bucket)
        .await
        .map_err(|e| format!("cannot open the site's record bucket: {e}"))?;
    let images = match jetstream.get_object_store(names.image_bucket()).await {
        Ok(images) => images,
        Err(_) => jetstream
            .create_object_store(object_store::Config {
                bucket: names.image_bucket(),
                storage: jetstream::stream::StorageType::File,
                num_replicas: names.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot make the site's image bucket: {e}"))?,
    };
    Ok(Buckets { records, images })
}

/// The site's bucket as the store's `Replica`: request threads hand their
/// changes to the site's runtime and wait for the answer.
pub(super) struct SiteReplica {
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) client: OnceLock<Client>,
    pub(super) buckets: OnceLock<Buckets>,
}

impl Replica for SiteReplica {
    fn store(&self, changes: &[SiteChange]) -> Result<Vec<u64>, Refusal> {
        let unreachable = |why: &str| Refusal::Unreachable(why.to_string());
        let (Some(client), Some(buckets)) = (self.client.get(), self.buckets.get()) else {
            return Err(unreachable("not connected to the site yet"));
        };
        if client.connection_state() != State::Connected {
            return Err(unreachable("not connected to the site"));
        }
        let buckets = buckets.clone();
        let changes: Vec<_> = changes.iter().map(Owned::from).collect();
        let (answer, answered) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = answer.send(store_all(&buckets, changes).await);
        });
        answered.recv_timeout(STORE_WAIT).unwrap_or_else(|_| {
            Err(unreachable(
                "the site did not answer in time; the change may still be stored there",
            ))
        })
    }
}

/// A change as the site's runtime takes it.
struct Owned {
    key: String,
    value: Option<Vec<u8>>,
    expected_revision: u64,
    images: Vec<StoredImage>,
}

impl From<&SiteChange> for Owned {
    fn from(change: &SiteChange) -> Owned {
        Owned {
            key: change.key.key(),
            value: change.value.clone(),
            expected_revision: change.expected_revision,
            images: change.images.clone(),
        }
    }
}

/// Stores the changes one by one (images first); the new revisions.
async fn store_all(buckets: &Buckets, changes: Vec<Owned>) -> Result<Vec<u64>, Refusal> {
    let mut revisions = Vec::with_capacity(changes.len());
    for change in changes {
        for image in &change.images {
            put_image(&buckets.images, image).await?;
        }
        revisions.push(store_one(&buckets.records, change).await?);
    }
    Ok(revisions)
}

/// An image goes up once: its id is its content's hash.
async fn put_image(images: &object_store::ObjectStore, image: &StoredImage) -> Result<(), Refusal> {
    if images.info(&image.id).await.is_ok() {
        return Ok(());
    }
    let bytes = postcard::to_stdvec(image).map_err(|e| Refusal::Unreachable(e.to_string()))?;
    images
        .put(image.id.as_str(), &mut bytes.as_slice())
        .await
        .map(drop)
        .map_err(|e| Refusal::Unreachable(format!("storing image {}: {e}", image.id)))
}

/// Stores one record against the revision the door had of it.
async fn store_one(records: &kv::Store, change: Owned) -> Result<u64, Refusal> {
    let conflict = |why: String| Refusal::Conflict(format!("{}: {why}", change.key));
    let unreachable = |why: String| Refusal::Unreachable(format!("{}: {why}", change.key));
    match (change.value, change.expected_revision) {
        (Some(value), 0) => records
            .create(&change.key, value.into())
            .await
            .map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => conflict(e.to_string()),
                _ => unreachable(e.to_string()),
            }),
        (Some(value), expected) => records
            .update(&change.key, value.into(), expected)
            .await
            .map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => conflict(e.to_string()),
                _ => unreachable(e.to_string()),
            }),
        (None, expected) => {
            records
                .delete_expect_revision(&change.key, Some(expected))
                .await
                .map_err(|e| match e.to_string().contains("wrong last sequence") {
                    true => conflict(e.to_string()),
                    false => unreachable(e.to_string()),
                })?;
            // A delete is a revision too: the door has it once applied.
            Ok(expected)
        }
    }
}

/// Applies the bucket's changes here for as long as the daemon runs,
/// watching again from the last applied revision whenever the watch
/// breaks.
pub(super) async fn follow(
    buckets: &Buckets,
    core: &Arc<Core>,
    limits: facegate_models::DecodeLimits,
) {
    loop {
        if let Err(e) = follow_once(buckets, core, limits).await {
            log::warn!("site: {e}");
            core.site.update(|state| {
                state.following_records = false;
                state.last_error = Some(e);
            });
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn follow_once(
    buckets: &Buckets,
    core: &Arc<Core>,
    limits: facegate_models::DecodeLimits,
) -> Result<(), String> {
    let store = &core.catalog.store;
    let applied = store.applied_site_revision().map_err(|e| e.to_string())?;
    let mut watch = buckets
        .records
        .watch_all_from_revision(applied + 1)
        .await
        .map_err(|e| format!("cannot watch the site's records: {e}"))?;
    core.site.update(|state| state.following_records = true);
    while let Some(entry) = watch.next().await {
        let entry = entry.map_err(|e| format!("watching the site's records: {e}"))?;
        let Some(key) = RecordKey::parse(&entry.key) else {
            log::warn!(
                "site: a record with an unknown key {:?} is ignored",
                entry.key
            );
            continue;
        };
        let value = match entry.operation {
            Operation::Put => Some(entry.value.as_ref()),
            Operation::Delete | Operation::Purge => None,
        };
        let images = match (&key, value) {
            (RecordKey::Member(_), Some(value)) => missing_images(buckets, core, value).await?,
            _ => Vec::new(),
        };
        let (value, revision) = (value.map(<[u8]>::to_vec), entry.revision);
        write_off_runtime(core, move |core| {
            let value = match (&key, value) {
                (RecordKey::Member(_), Some(value)) => {
                    Some(with_own_templates(core, value, &images, limits))
                }
                (_, value) => value,
            };
            let record = SiteRecord {
                key: &key,
                value: value.as_deref(),
                images: &images,
                revision,
            };
            core.catalog
                .apply_site_record(record)
                .map_err(|e| format!("applying site record {}: {e}", key.key()))
        })
        .await?;
        core.site.update(|state| {
            state.applied_revision = entry.revision;
            state.revisions_behind = entry.delta;
            state.last_applied_at = Some(rfc3339(Timestamp::now()));
        });
    }
    Err("the watch of the site's records ended".into())
}

/// The member record with every template another network made (a door of
/// another precision, say) made again here from its face's image, so the
/// door searches it. A face whose template cannot be made again is kept as
/// it is, out of search, and logged, as the start-up migration does.
fn with_own_templates(
    core: &Core,
    value: Vec<u8>,
    images: &[StoredImage],
    limits: facegate_models::DecodeLimits,
) -> Vec<u8> {
    let model = core.engine.template_model();
    let Ok(mut record) = serde_json::from_slice::<MemberRecord>(&value) else {
        return value;
    };
    if record.faces.iter().all(|face| face.template_model == model) {
        return value;
    }
    for face in record
        .faces
        .iter_mut()
        .filter(|f| f.template_model != model)
    {
        let image = match images.iter().find(|image| image.id == face.image_id) {
            Some(image) => Ok(image.clone()),
            None => match core.catalog.store.image(&face.image_id) {
                Ok(Some(image)) => Ok(image),
                Ok(None) => Err("its image is missing".to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        match image.and_then(|image| recompute_from(&core.engine, face, &image, limits)) {
            Ok(own) => *face = own,
            Err(why) => log::warn!("site: face {} kept out of search: {why}", face.id),
        }
    }
    serde_json::to_vec(&record).unwrap_or(value)
}

/// The images a member record's faces use that this door lacks, from the
/// site's object store.
async fn missing_images(
    buckets: &Buckets,
    core: &Core,
    value: &[u8],
) -> Result<Vec<StoredImage>, String> {
    // A record that cannot be read fails when it is applied.
    let Ok(record) = serde_json::from_slice::<MemberRecord>(value) else {
        return Ok(Vec::new());
    };
    let mut images = Vec::new();
    for face in &record.faces {
        let here = core.catalog.store.has_image(&face.image_id);
        if here.map_err(|e| e.to_string())?
            || images.iter().any(|i: &StoredImage| i.id == face.image_id)
        {
            continue;
        }
        let mut object = buckets
            .images
            .get(&face.image_id)
            .await
            .map_err(|e| format!("cannot fetch image {} from the site: {e}", face.image_id))?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| format!("reading image {} from the site: {e}", face.image_id))?;
        images.push(
            postcard::from_bytes(&bytes)
                .map_err(|e| format!("image {} from the site: {e}", face.image_id))?,
        );
    }
    Ok(images)
}
