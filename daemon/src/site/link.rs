//! The connection to the site's NATS servers, made from `[site]`.

use crate::config::SiteConfig;
use crate::core::site::hide_credentials;
use crate::core::Core;
use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often the server is pinged.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Connects in the background: the door starts (and keeps recognising)
/// whether or not a server is up, and the client reconnects for ever.
/// The site link's state follows the connection's.
pub(super) async fn connect(
    config: &SiteConfig,
    door: &str,
    core: &Arc<Core>,
) -> Result<Client, String> {
    let given = |path: &Path| !path.as_os_str().is_empty();
    let servers = servers(&config.nats_url)?;
    let mut options = match given(&config.credentials_file) {
        true => ConnectOptions::with_credentials_file(&config.credentials_file)
            .await
            .map_err(|e| {
                format!(
                    "cannot read site.credentials_file {}: {e}",
                    config.credentials_file.display()
                )
            })?,
        false => ConnectOptions::new(),
    };
    if !config.token.is_empty() {
        options = options.token(config.token.clone());
    }
    if !config.user.is_empty() {
        options = options.user_and_password(config.user.clone(), config.password.clone());
    }
    if given(&config.tls_ca_file) {
        options = options.add_root_certificates(config.tls_ca_file.clone());
    }
    if given(&config.tls_client_cert_file) {
        options = options.add_client_certificate(
            config.tls_client_cert_file.clone(),
            config.tls_client_key_file.clone(),
        );
    }
    let core = core.clone();
    options
        .name(format!("facegate door {door}"))
        .retry_on_initial_connect()
        // A link that dies without a word (a cut cable) is noticed after two
        // unanswered pings; writes are refused at once from then on.
        .ping_interval(PING_INTERVAL)
        .max_reconnects(None)
        .event_callback(move |event| {
            let core = core.clone();
            async move { follow(&core, event) }
        })
        .connect(servers)
        .await
        .map_err(|e| {
            hide_credentials(&format!(
                "cannot connect to site.nats_url {}: {e}",
                config.nats_url
            ))
        })
}

/// The servers of `site.nats_url`: one URL or several, comma-separated
/// (async-nats reads a string as one URL).
fn servers(nats_url: &str) -> Result<Vec<ServerAddr>, String> {
    nats_url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse::<ServerAddr>()
                .map_err(|e| hide_credentials(&format!("invalid config: site.nats_url {url}: {e}")))
        })
        .collect()
}

/// Keeps the site link's state in step with the connection.
fn follow(core: &Core, event: Event) {
    match event {
        Event::Connected => {
            log::info!("site: connected");
            core.site.update(|state| state.connected = true);
        }
        Event::Disconnected => {
            log::warn!("site: disconnected; the door goes on, and reconnects");
            core.site.update(|state| state.connected = false);
        }
        Event::ClientError(e) => {
            log::warn!("site: {}", hide_credentials(&e.to_string()));
            core.site
                .update(|state| state.last_error = Some(e.to_string()));
        }
        Event::ServerError(e) => {
            log::warn!("site: the server says {}", hide_credentials(&e.to_string()));
            core.site
                .update(|state| state.last_error = Some(e.to_string()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_comma_separated_urls_are_several_servers() {
        let three = servers("nats://127.0.0.1:4222, nats://127.0.0.1:4223,tls://b:1").unwrap();
        assert_eq!(three.len(), 3);
        assert_eq!(three[1].port(), 4223);
        assert_eq!(three[2].host(), "b");
        let refused = servers("nats://a:4222,nats://u:secret@a:x").unwrap_err();
        assert!(refused.contains("site.nats_url"), "{refused}");
        assert!(!refused.contains("secret"), "{refused}");
    }
}
