//! The site's watchlists, members and faces: a JetStream key-value bucket
//! per site (`FACEGATE_<site>`, one key per record, JSON: a watchlist, a
//! member with its links, a face with its template) with the images in an
//! object store (`FACEGATE_<site>_IMAGES`, by content id).
//!
//! `SiteReplica` stores this door's changes in the bucket for the store
//! (`store::Replica`), called from request threads; `follow` applies every
//! change of the bucket here, in revision order, resuming after the last
//! revision applied, which the store keeps.

use super::{schedules, write_off_runtime, Names};
use crate::core::event::rfc3339;
use crate::core::schedule::ScheduleSet;
use crate::core::Core;
use crate::migration::recompute_from;
use crate::store::{
    Face, MemberRecord, RecordKey, Refusal, Replica, SiteChange, SiteRecord, SiteWrite,
    StoredImage, Timestamp,
};
use async_nats::connection::State;
use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::{self, object_store};
use async_nats::Client;
use futures_util::StreamExt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a request waits for the site to confirm its write. The store's
/// write lock is held meanwhile, and the door logs its decisions under it
/// (after acting on them), so this is kept short: a write takes a few
/// milliseconds on a LAN, a round trip per replica.
const STORE_WAIT: Duration = Duration::from_secs(5);

/// How long the door then looks for the write in the site, to tell a
/// write that was stored from one that was not.
const CONFIRM_WAIT: Duration = Duration::from_secs(3);

/// The most records one write may change in site mode: what JetStream
/// takes in one atomic batch (ADR-50).
const MAX_RECORDS_PER_WRITE: usize = 1000;

/// The header naming the write a record was stored by, to find it again.
const WRITE_ID: &str = "Facegate-Write";

/// How soon a broken watch, or a bucket that could not be opened, is
/// tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The site's buckets, once opened.
#[derive(Clone)]
pub(super) struct Buckets {
    records: kv::Store,
    images: object_store::ObjectStore,
    jetstream: jetstream::Context,
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
            // A write of many records is one atomic batch.
            allow_atomic_publish: true,
            num_replicas: names.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot make the site's record bucket: {e}"))?;
    allow_atomic_writes(&jetstream, &format!("KV_{bucket}")).await?;
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
    Ok(Buckets {
        records,
        images,
        jetstream,
    })
}

/// Makes the bucket's stream take atomic batches (a bucket made by an
/// earlier Facegate does not), and refuses servers that cannot: a write of
/// many records would otherwise be stored record by record.
async fn allow_atomic_writes(jetstream: &jetstream::Context, name: &str) -> Result<(), String> {
    let mut stream = jetstream
        .get_stream(name)
        .await
        .map_err(|e| format!("cannot open the site's record stream: {e}"))?;
    let info = stream
        .info()
        .await
        .map_err(|e| format!("cannot read the site's record stream: {e}"))?;
    let mut config = info.config.clone();
    if !config.allow_atomic_publish {
        config.allow_atomic_publish = true;
        let updated = jetstream
            .update_stream(config)
            .await
            .map_err(|e| format!("cannot let the site's record stream take atomic writes: {e}"))?;
        if !updated.config.allow_atomic_publish {
            return Err(
                "the site's NATS servers cannot store a write of many records \
                 atomically: site mode needs nats-server 2.12 or later"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The site's bucket as the store's `Replica`: request threads hand their
/// changes to the site's runtime and wait for the answer.
pub(super) struct SiteReplica {
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) client: OnceLock<Client>,
    pub(super) buckets: OnceLock<Buckets>,
}

impl Replica for SiteReplica {
    fn store(&self, write: &SiteWrite) -> Result<Vec<u64>, Refusal> {
        let unreachable = |why: &str| Refusal::Unreachable(why.to_string());
        let (Some(client), Some(buckets)) = (self.client.get(), self.buckets.get()) else {
            return Err(unreachable("not connected to the site yet"));
        };
        if client.connection_state() != State::Connected {
            return Err(unreachable("not connected to the site"));
        }
        let buckets = buckets.clone();
        let changes: Vec<_> = write.changes.iter().map(Owned::from).collect();
        let erased = write.erased_images.clone();
        let (answer, answered) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let stored = store_all(&buckets, changes).await;
            let succeeded = stored.is_ok();
            let _ = answer.send(stored);
            // Once the records that used them are gone from the site.
            if succeeded {
                erase_images(&buckets.images, &erased).await;
            }
        });
        // The runtime answers within its own waits; this one is a backstop.
        answered
            .recv_timeout(STORE_WAIT + CONFIRM_WAIT + Duration::from_secs(1))
            .unwrap_or_else(|_| {
                Err(Refusal::Unconfirmed(
                    "the site's runtime did not answer".into(),
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

/// Stores the images, then every record in one atomic batch, each checked
/// against the revision the door had of it: all of them or none. The new
/// revisions, in order.
async fn store_all(buckets: &Buckets, changes: Vec<Owned>) -> Result<Vec<u64>, Refusal> {
    if changes.len() > MAX_RECORDS_PER_WRITE {
        return Err(Refusal::TooLarge(format!(
            "{} records in one write; a site takes at most {MAX_RECORDS_PER_WRITE}",
            changes.len()
        )));
    }
    let Some((commit, held)) = changes.split_last() else {
        return Ok(Vec::new());
    };
    for image in changes.iter().flat_map(|change| &change.images) {
        put_image(&buckets.images, image).await?;
    }
    let write = uuid::Uuid::new_v4().simple().to_string();
    let subject = |change: &Owned| format!("{}{}", buckets.records.prefix, change.key);
    for (index, change) in held.iter().enumerate() {
        // Held by the server until the commit; a refusal is its answer.
        let headers = batch_headers(change, &write, index + 1);
        buckets
            .jetstream
            .client()
            .publish_with_headers(subject(change), headers, payload(change).into())
            .await
            .map_err(|e| match e.kind() {
                async_nats::client::PublishErrorKind::MaxPayloadExceeded => too_large(change, &e),
                _ => Refusal::Unreachable(e.to_string()),
            })?;
    }
    let mut headers = batch_headers(commit, &write, changes.len());
    headers.insert("Nats-Batch-Commit", "1");
    let message = jetstream::message::PublishMessage::build()
        .payload(payload(commit).into())
        .headers(headers);
    use jetstream::context::PublishErrorKind as Kind;
    let ack = match buckets
        .jetstream
        .send_publish(subject(commit), message)
        .await
    {
        Ok(ack) => tokio::time::timeout(STORE_WAIT, ack).await,
        Err(e) if e.kind() == Kind::MaxPayloadExceeded => return Err(too_large(commit, &e)),
        Err(e) => return Err(Refusal::Unreachable(e.to_string())),
    };
    let count = changes.len() as u64;
    let last = match ack {
        Ok(Ok(ack)) => ack.sequence,
        Ok(Err(e)) if e.kind() == Kind::WrongLastSequence => {
            return Err(Refusal::Conflict(e.to_string()))
        }
        Ok(Err(e)) if e.kind() != Kind::TimedOut => {
            return Err(Refusal::Unreachable(e.to_string()))
        }
        // No answer: the batch is stored whole or not at all; look for it.
        _ => stored_by(buckets, &subject(&changes[0]), &write).await? + count - 1,
    };
    // An atomic batch is stored in consecutive sequences.
    Ok((last + 1 - count..=last).collect())
}

/// The headers of the `sequence`th record of the batch `write`: its place
/// in the batch, the revision it replaces, and a delete's marker.
fn batch_headers(change: &Owned, write: &str, sequence: usize) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Batch-Id", write);
    headers.insert("Nats-Batch-Sequence", sequence.to_string());
    headers.insert(
        "Nats-Expected-Last-Subject-Sequence",
        change.expected_revision.to_string(),
    );
    headers.insert(WRITE_ID, write);
    if change.value.is_none() {
        headers.insert("KV-Operation", "DEL");
    }
    headers
}

/// A record's value as the bucket stores it (empty for a delete).
fn payload(change: &Owned) -> Vec<u8> {
    change.value.clone().unwrap_or_default()
}

fn too_large(change: &Owned, error: &dyn std::fmt::Display) -> Refusal {
    let bytes = change.value.as_ref().map_or(0, Vec::len);
    Refusal::TooLarge(format!("record {} ({bytes} bytes): {error}", change.key))
}

/// Whether the write `write` is in the site, from the last version of its
/// first record: that version's sequence when it is, `Unconfirmed` when
/// the site cannot tell.
async fn stored_by(buckets: &Buckets, subject: &str, write: &str) -> Result<u64, Refusal> {
    let unconfirmed = |why: String| Refusal::Unconfirmed(why);
    let last = tokio::time::timeout(
        CONFIRM_WAIT,
        buckets.records.stream.direct_get_last_for_subject(subject),
    )
    .await
    .map_err(|_| unconfirmed("no answer".into()))?
    .map_err(|e| unconfirmed(e.to_string()))?;
    match last.headers.get(WRITE_ID).map(|id| id.as_str()) == Some(write) {
        true => Ok(last.sequence),
        false => Err(Refusal::Unreachable(
            "the site did not answer, and has not stored the write".into(),
        )),
    }
}

/// Deletes images from the site's object store (their chunks are purged):
/// the faces that used them are deleted. One that cannot be deleted now
/// stays, and is logged.
async fn erase_images(images: &object_store::ObjectStore, erased: &[String]) {
    for id in erased {
        if let Err(e) = images.delete(id.as_str()).await {
            log::warn!("site: image {id}, which no face uses any more, is not erased: {e}");
        }
    }
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

/// Applies the bucket's changes here for as long as the daemon runs,
/// watching again from the last applied revision whenever the watch
/// breaks.
pub(super) async fn follow(
    buckets: &Buckets,
    core: &Arc<Core>,
    limits: facegate_models::DecodeLimits,
    own_schedules: &ScheduleSet,
) {
    loop {
        if let Err(e) = follow_once(buckets, core, limits, own_schedules).await {
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
    own_schedules: &ScheduleSet,
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
        let images = match value {
            Some(value) => missing_images(buckets, core, &faces_in(&key, value)).await?,
            None => Vec::new(),
        };
        let (value, revision) = (value.map(<[u8]>::to_vec), entry.revision);
        let schedules_changed = key == RecordKey::Setting(schedules::SETTING.into());
        write_off_runtime(core, move |core| {
            let value = value.map(|value| with_own_templates(core, &key, value, &images, limits));
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
        if schedules_changed {
            schedules::follow_stored(core, own_schedules);
        }
        core.site.update(|state| {
            state.applied_revision = entry.revision;
            state.revisions_behind = entry.delta;
            state.last_applied_at = Some(rfc3339(Timestamp::now()));
        });
    }
    Err("the watch of the site's records ended".into())
}

/// The faces a record holds: a face record's face, or those an older
/// Facegate wrote into a member record. A record that cannot be read holds
/// none here, and fails when it is applied.
fn faces_in(key: &RecordKey, value: &[u8]) -> Vec<Face> {
    match key {
        RecordKey::Face(_) => serde_json::from_slice::<Face>(value).into_iter().collect(),
        RecordKey::Member(_) => serde_json::from_slice::<MemberRecord>(value)
            .map(|record| record.faces)
            .unwrap_or_default(),
        RecordKey::Watchlist(_) | RecordKey::Setting(_) => Vec::new(),
    }
}

/// The record with every template another network made (a door of
/// another precision, say) made again here from its face's image, so the
/// door searches it. A face whose template cannot be made again is kept as
/// it is, out of search, and logged, as the start-up migration does.
fn with_own_templates(
    core: &Core,
    key: &RecordKey,
    value: Vec<u8>,
    images: &[StoredImage],
    limits: facegate_models::DecodeLimits,
) -> Vec<u8> {
    let model = core.engine.template_model();
    if faces_in(key, &value)
        .iter()
        .all(|face| face.template_model == model)
    {
        return value;
    }
    let own = |face: &mut Face| {
        let image = match images.iter().find(|image| image.id == face.image_id) {
            Some(image) => Ok(image.clone()),
            None => match core.catalog.store.image(&face.image_id) {
                Ok(Some(image)) => Ok(image),
                Ok(None) => Err("its image is missing".to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        match image.and_then(|image| recompute_from(&core.engine, face, &image, limits)) {
            Ok(made) => *face = made,
            Err(why) => log::warn!("site: face {} kept out of search: {why}", face.id),
        }
    };
    let remade = match key {
        RecordKey::Face(_) => serde_json::from_slice::<Face>(&value).map(|mut face| {
            own(&mut face);
            serde_json::to_vec(&face)
        }),
        _ => serde_json::from_slice::<MemberRecord>(&value).map(|mut record| {
            record
                .faces
                .iter_mut()
                .filter(|face| face.template_model != model)
                .for_each(own);
            serde_json::to_vec(&record)
        }),
    };
    remade.ok().and_then(Result::ok).unwrap_or(value)
}

/// The images of `faces` that this door lacks, from the site's object
/// store.
async fn missing_images(
    buckets: &Buckets,
    core: &Core,
    faces: &[Face],
) -> Result<Vec<StoredImage>, String> {
    let mut images = Vec::new();
    for face in faces {
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
