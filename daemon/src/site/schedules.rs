//! The site's schedules: one setting of the site's bucket that every door
//! decides by, so a watchlist admits at the same hours at every door.
//!
//! A door whose config has `[[schedule]]` tables or
//! `edge.watchlist_schedules` shares them when it links (the last door to
//! share wins, so configure them on one door, or the same on all); every
//! door then follows the site's, kept in its store so that a door
//! restarted while the site is down still has them.

use super::write_off_runtime;
use crate::core::door::ScheduleOrigin;
use crate::core::schedule::ScheduleSet;
use crate::core::Core;
use std::sync::Arc;
use std::time::Duration;

/// The setting's name in the site's bucket.
pub(super) const SETTING: &str = "schedules";

/// How soon a share the site refused (it was unreachable, or another
/// door's change was not applied here yet) is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// At start, before the site answers: a door without schedules of its
/// own takes the site's as it last had them.
pub(super) fn start(own: &ScheduleSet, core: &Core) {
    if own.is_empty() {
        follow_stored(core, own);
    }
}

/// The site's schedules as this door's store now has them are in force,
/// or the door's own when the site has none.
pub(super) fn follow_stored(core: &Core, own: &ScheduleSet) {
    let stored = match core.catalog.store.site_setting(SETTING) {
        Ok(stored) => stored,
        Err(e) => {
            log::error!("site: cannot read the site's schedules: {e}; the ones in force stay");
            return;
        }
    };
    let Some(bytes) = stored else {
        let schedules = own.compile_closed();
        core.door_watch
            .set_schedules(schedules, ScheduleOrigin::Config);
        return;
    };
    match serde_json::from_slice::<ScheduleSet>(&bytes) {
        Ok(site) => {
            if !own.is_empty() && site != *own {
                log::warn!(
                    "site: another door shared schedules unlike this door's config; \
                     the site's are in force"
                );
            }
            let schedules = site.compile_closed();
            core.door_watch
                .set_schedules(schedules, ScheduleOrigin::Site);
        }
        Err(e) => {
            log::error!("site: the site's schedules cannot be read ({e}); the ones in force stay")
        }
    }
}

/// Shares the door's own schedules with the site, unless it has none or
/// the site has them already; tried until the site takes them.
pub(super) async fn share(own: ScheduleSet, core: &Arc<Core>) {
    if own.is_empty() {
        return;
    }
    let Ok(bytes) = serde_json::to_vec(&own) else {
        return;
    };
    loop {
        let value = bytes.clone();
        let shared = write_off_runtime(core, move |core| {
            let store = &core.catalog.store;
            if store.site_setting(SETTING).map_err(|e| e.to_string())? == Some(value.clone()) {
                return Ok(());
            }
            store
                .put_site_setting(SETTING, &value)
                .map_err(|e| e.to_string())
        })
        .await;
        match shared {
            Ok(()) => return,
            Err(e) => log::warn!("site: the door's schedules are not shared yet: {e}"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
