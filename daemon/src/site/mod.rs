//! Site mode: this door as one of many sharing a NATS JetStream
//! deployment (docs/SITE.md). The link (`link.rs`) connects to the site's
//! servers and keeps reconnecting; over it every decision of this door goes
//! to the site's event stream (`events.rs`), from the door's own event log,
//! so nothing recorded while the site is unreachable is lost.
//!
//! The site front end runs on a thread of its own with a single-threaded
//! tokio runtime: its one task talks to NATS and to the store, and never
//! holds up the door.

mod events;
mod link;

use crate::config::SiteConfig;
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
}

impl Site {
    /// Starts linking `door` to its site; the connection itself is made
    /// (and remade) in the background.
    pub fn start(config: &SiteConfig, door: String, core: Arc<Core>) -> Result<Site, String> {
        let names = Names {
            site_id: config.site_id.clone(),
            door_id: door,
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
        let thread = std::thread::Builder::new()
            .name("site".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let link = async {
                        let client = link::connect(&config, &names.door_id, &core).await?;
                        events::send(&client, &names, &core).await;
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

    /// Stops sending; what is not sent yet goes after the next start.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            log::error!("the site link's thread panicked");
        }
    }
}
