//! Site mode: this door as one of many sharing a NATS JetStream
//! deployment (docs/SITE.md). The link (`link.rs`) connects to the site's
//! servers and keeps reconnecting. Over it the site's watchlists, members
//! and faces are kept here (`records.rs`: this door's changes go to the
//! site first, every door applies the site's changes), and every decision
//! of this door goes to the site's event stream (`events.rs`), from the
//! door's own event log, so nothing recorded while the site is unreachable
//! is lost. The site's schedules are one more record (`schedules.rs`).
//!
//! The site front end runs on a thread of its own with a single-threaded
//! tokio runtime: its one task talks to NATS and to the store, and never
//! holds up the door.

mod events;
mod link;
mod records;
mod schedules;

use crate::config::SiteConfig;
use crate::core::schedule::ScheduleSet;
use crate::core::Core;
use std::sync::Arc;
use tokio::sync::watch;

/// The running site front end.
pub struct Site {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

/// Names of the site's subjects and streams.
struct Names {
    site_id: String,
    door_id: String,
    /// The replicas of each stream and bucket this door makes
    /// (`site.replicas`); those that exist are used as they are.
    replicas: usize,
}

impl Names {
    /// The stream of the whole site's decisions.
    fn event_stream(&self) -> String {
        format!("FACEGATE_EVENTS_{}", self.site_id)
    }

    /// Every door's decisions, one subject per door.
    fn event_subjects(&self) -> String {
        format!("facegate.{}.events.>", self.site_id)
    }

    fn door_events(&self) -> String {
        format!("facegate.{}.events.{}", self.site_id, self.door_id)
    }

    /// The key-value bucket of the site's watchlists and members.
    fn record_bucket(&self) -> String {
        format!("FACEGATE_{}", self.site_id)
    }

    /// The object store of their faces' images.
    fn image_bucket(&self) -> String {
        format!("FACEGATE_{}_IMAGES", self.site_id)
    }
}

impl Site {
    /// Starts linking `door` to its site; the connection itself is made
    /// (and remade) in the background.
    /// `limits` bounds the images whose faces are analysed again;
    /// `own_schedules` are the door's config's, shared with the site.
    pub fn start(
        config: &SiteConfig,
        door: String,
        core: Arc<Core>,
        limits: facegate_models::DecodeLimits,
        own_schedules: ScheduleSet,
    ) -> Result<Site, String> {
        let names = Names {
            site_id: config.site_id.clone(),
            door_id: door,
            replicas: config.replicas,
        };
        core.site.update(|state| {
            state.site_id = names.site_id.clone();
            state.door_id = names.door_id.clone();
        });
        let config = config.clone();
        let (stop, mut stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the site link's runtime: {e}"))?;
        // From now on every replicated write goes to the site first, and
        // is refused until the site's buckets are open.
        let replica = Arc::new(records::SiteReplica {
            runtime: runtime.handle().clone(),
            client: Default::default(),
            buckets: Default::default(),
        });
        core.catalog.store.join_site(replica.clone());
        schedules::start(&own_schedules, &core);
        let thread = std::thread::Builder::new()
            .name("site".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let link = async {
                        let client = link::connect(&config, &names.door_id, &core).await?;
                        let _ = replica.client.set(client.clone());
                        let records = async {
                            let buckets = open_buckets(&client, &names, &core).await;
                            let _ = replica.buckets.set(buckets.clone());
                            let follow = records::follow(&buckets, &core, limits, &own_schedules);
                            tokio::join!(follow, schedules::share(own_schedules.clone(), &core));
                        };
                        tokio::join!(events::send(&client, &names, &core), records);
                        Ok::<(), String>(())
                    };
                    tokio::select! {
                        failed = link => if let Err(e) = failed {
                            log::error!("site link stopped: {e}");
                            core.site.update(|state| state.last_error = Some(e));
                        },
                        _ = stopped.wait_for(|stop| *stop) => {}
                    }
                })
            })
            .map_err(|e| format!("cannot start the site link: {e}"))?;
        Ok(Site { stop, thread })
    }

    /// Stops sending and applying; what is left goes after the next start.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            log::error!("the site link's thread panicked");
        }
    }
}

/// Runs a write to the store off the site's runtime: a request thread may
/// hold the store's write lock while it waits for this runtime to store
/// its change in the site, so the runtime itself must never wait for it.
async fn write_off_runtime<T: Send + 'static>(
    core: &Arc<Core>,
    write: impl FnOnce(&Core) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let core = core.clone();
    tokio::task::spawn_blocking(move || write(&core))
        .await
        .map_err(|e| format!("a write to the store failed: {e}"))?
}

/// Opens the site's buckets, trying until the site answers.
async fn open_buckets(client: &async_nats::Client, names: &Names, core: &Core) -> records::Buckets {
    loop {
        match records::open(client, names).await {
            Ok(buckets) => return buckets,
            Err(e) => {
                log::warn!("site: {e}");
                core.site.update(|state| state.last_error = Some(e));
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
