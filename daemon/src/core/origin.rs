//! What a browser may ask of the daemon. A web page on any site can make a
//! browser send requests to the door, so every front end that speaks HTTP
//! refuses:
//! - a `Host` that is not one of the daemon's own names (DNS rebinding: a
//!   page whose name was made to resolve to the door reads and acts as if
//!   it were the door's own page);
//! - a request that acts (any method but GET, HEAD and OPTIONS) sent from
//!   another origin, told by `Origin` and `Sec-Fetch-Site`;
//! - a request that acts with one of the content types a page may send
//!   cross-site without asking first (`text/plain` and the form types).
//!
//! Clients that are not browsers (curl, SmartFace integrations) send none
//! of `Origin` and `Sec-Fetch-Site`, and an address or a name of the
//! machine as `Host`, so they are not affected.

use std::net::IpAddr;

/// The host names the daemon answers to. An IP address is always one of
/// them: a rebinding attack needs a name the attacker controls, and a
/// page at an address is a page of that address.
#[derive(Debug, Clone)]
pub struct HostNames {
    names: Vec<String>,
    any: bool,
}

/// Why a request was refused, for the front end to answer in its terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// 421: `Host` names another server.
    ForeignHost(String),
    /// 403: the request acts, from another origin.
    CrossOrigin(String),
    /// 415: the request acts with a body type any page may send.
    SimpleContentType(String),
}

/// Content types a page may send to another origin without a preflight
/// (the Fetch standard's CORS-safelisted ones): none of the API takes them.
const CROSS_SITE_CONTENT_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

impl HostNames {
    /// `localhost` and the machine's host name (with `.local`, its mDNS
    /// name), then `configured`; `"*"` among them allows any name.
    pub fn new(configured: &[String], machine: Option<&str>) -> HostNames {
        let mut names = vec!["localhost".to_string()];
        if let Some(machine) = machine.map(str::to_ascii_lowercase) {
            names.push(format!("{machine}.local"));
            names.push(machine);
        }
        names.extend(configured.iter().map(|name| normal_name(name)));
        HostNames {
            any: names.iter().any(|name| name == "*"),
            names,
        }
    }

    /// The `Host` header (absent only from HTTP/1.0 clients, which are
    /// not browsers) is the daemon's.
    pub fn check_host(&self, host: Option<&str>) -> Result<(), Refusal> {
        let Some(host) = host else { return Ok(()) };
        let name = host_without_port(host);
        let known = self.any
            || name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name);
        match known {
            true => Ok(()),
            false => Err(Refusal::ForeignHost(format!(
                "this server does not answer to the host `{host}`; \
                 add it to server.allowed_hosts if it is one of its names"
            ))),
        }
    }
}

/// A request that acts (its method is not GET, HEAD or OPTIONS) comes from
/// the daemon's own origin, or from no browser at all.
pub fn check_acting_request(
    method: &str,
    host: Option<&str>,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    content_type: Option<&str>,
    secure: bool,
) -> Result<(), Refusal> {
    if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    if let Some(site) = fetch_site.map(str::trim) {
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return Err(Refusal::CrossOrigin(format!(
                "a request from another site (Sec-Fetch-Site: {site}) may not change anything"
            )));
        }
    }
    if let Some(origin) = origin {
        if !same_origin(origin, host, secure) {
            return Err(Refusal::CrossOrigin(format!(
                "a request from the origin `{origin}` may not change anything here"
            )));
        }
    }
    if let Some(content_type) = content_type {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if CROSS_SITE_CONTENT_TYPES
            .iter()
            .any(|simple| media_type.eq_ignore_ascii_case(simple))
        {
            return Err(Refusal::SimpleContentType(format!(
                "`{content_type}` is not accepted here: send JSON \
                 (Content-Type: application/json), or no body"
            )));
        }
    }
    Ok(())
}

/// `origin` (`scheme://host[:port]`) is the one the browser reached the
/// daemon at: the request's scheme, and its `Host`.
fn same_origin(origin: &str, host: Option<&str>, secure: bool) -> bool {
    let scheme = if secure { "https" } else { "http" };
    let (Some(authority), Some(host)) = (origin.strip_prefix(&format!("{scheme}://")), host) else {
        return false; // "null", another scheme, or no Host to compare with
    };
    let default_port = if secure { ":443" } else { ":80" };
    let normal = |authority: &str| {
        let authority = authority.trim().to_ascii_lowercase();
        match authority.strip_suffix(default_port) {
            Some(bare) => bare.to_string(),
            None => authority,
        }
    };
    !authority.contains('/') && normal(authority) == normal(host)
}

/// The host of a `Host` header: without its port, brackets or final dot,
/// in lower case.
fn host_without_port(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        },
    };
    normal_name(name)
}

fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acting(
        method: &str,
        origin: Option<&str>,
        site: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<(), Refusal> {
        check_acting_request(
            method,
            Some("door.example:8098"),
            origin,
            site,
            content_type,
            false,
        )
    }

    #[test]
    fn a_rebound_name_is_refused_and_the_machines_names_and_addresses_are_not() {
        let hosts = HostNames::new(&["door.example".into()], Some("Pi-Door"));
        for host in [
            "127.0.0.1:8098",
            "[::1]:8098",
            "192.168.1.20",
            "localhost:8098",
            "LOCALHOST.",
            "app.localhost",
            "pi-door:8098",
            "pi-door.local:8098",
            "door.example",
        ] {
            assert_eq!(hosts.check_host(Some(host)), Ok(()), "{host}");
        }
        assert_eq!(hosts.check_host(None), Ok(()));
        for host in ["evil.example:8098", "pi-door.evil.example", ""] {
            assert!(
                matches!(hosts.check_host(Some(host)), Err(Refusal::ForeignHost(_))),
                "{host}"
            );
        }
        let any = HostNames::new(&["*".into()], None);
        assert_eq!(any.check_host(Some("evil.example")), Ok(()));
    }

    #[test]
    fn a_cross_site_request_that_acts_is_refused_and_one_that_reads_is_not() {
        let cross = Some("http://evil.example");
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            assert!(matches!(
                acting(method, cross, None, None),
                Err(Refusal::CrossOrigin(_))
            ));
        }
        assert_eq!(acting("GET", cross, Some("cross-site"), None), Ok(()));
        for site in ["cross-site", "same-site"] {
            assert!(matches!(
                acting("POST", None, Some(site), None),
                Err(Refusal::CrossOrigin(_))
            ));
        }
        for origin in [
            "null",
            "https://door.example:8098",
            "http://door.example:8099",
        ] {
            assert!(matches!(
                acting("POST", Some(origin), None, None),
                Err(Refusal::CrossOrigin(_))
            ));
        }
    }

    #[test]
    fn the_daemons_own_pages_and_clients_without_a_browser_may_act() {
        let own = Some("http://door.example:8098");
        let json = Some("application/json");
        assert_eq!(acting("POST", own, Some("same-origin"), json), Ok(()));
        assert_eq!(acting("DELETE", None, None, None), Ok(()));
        assert_eq!(acting("POST", None, Some("none"), json), Ok(()));
        let default_port = check_acting_request(
            "POST",
            Some("door.example"),
            Some("https://door.example:443"),
            None,
            None,
            true,
        );
        assert_eq!(default_port, Ok(()));
    }

    #[test]
    fn the_content_types_a_page_may_send_anywhere_are_refused_for_requests_that_act() {
        for content_type in [
            "text/plain",
            "Text/Plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert!(matches!(
                acting("POST", None, None, Some(content_type)),
                Err(Refusal::SimpleContentType(_))
            ));
        }
        assert_eq!(acting("GET", None, None, Some("text/plain")), Ok(()));
    }
}
