//! The web console: the terminal's own page for installers and operators,
//! served at `/` from assets embedded in the binary (plain HTML, CSS and
//! JavaScript modules in `daemon/console/`, no build step). It is a front
//! end of its own: the page talks to the daemon only through the public
//! REST API, so the server hands this module the asset paths and nothing
//! else. The assets are served without an API key (the page must load to
//! ask for one); every API call the page makes sends the key.

use rouille::{Request, Response, ResponseBody};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The files of `daemon/console/`, each served at `/console/NAME`.
macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../console/", $name)) as &[u8])),*]
    };
}

const ASSETS: &[(&str, &[u8])] = assets![
    "index.html",
    "style.css",
    "icon.svg",
    "api.js",
    "app.js",
    "ui.js",
    "door.js",
    "people.js",
    "photo.js",
    "check.js",
    "about.js",
];

/// The page at `/`.
const INDEX: &str = "index.html";

/// Nothing but the daemon's own files and API; images and video from the
/// API arrive as blobs (fetched with the key), photos as data URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Answers a GET (or HEAD) of an asset; `None` for any other request.
pub fn serve(request: &Request) -> Option<Response> {
    if !matches!(request.method(), "GET" | "HEAD") {
        return None;
    }
    let path = request.raw_url().split('?').next().unwrap_or("");
    let name = match path {
        "/" => INDEX,
        path => path.strip_prefix("/console/")?,
    };
    let index = ASSETS.iter().position(|(asset, _)| *asset == name)?;
    let (name, body) = ASSETS[index];
    let etag = &etags()[index];
    // The browser revalidates every time (no-cache) and gets 304 while the
    // binary is the same, so an upgraded daemon never serves a stale page.
    let headers = vec![
        ("Content-Type".into(), content_type(name).into()),
        ("Cache-Control".into(), "no-cache".into()),
        ("ETag".into(), etag.clone().into()),
        (
            "Content-Security-Policy".into(),
            CONTENT_SECURITY_POLICY.into(),
        ),
        ("X-Content-Type-Options".into(), "nosniff".into()),
        ("Referrer-Policy".into(), "no-referrer".into()),
    ];
    let unchanged = request
        .header("If-None-Match")
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    Some(Response {
        status_code: if unchanged { 304 } else { 200 },
        headers,
        data: match unchanged {
            true => ResponseBody::empty(),
            false => ResponseBody::from_data(body),
        },
        upgrade: None,
    })
}

/// Each asset's entity tag: a digest of its bytes.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, body)| {
                let digest = Sha256::digest(body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str, headers: Vec<(String, String)>) -> Option<Response> {
        serve(&Request::fake_http("GET", url, headers, Vec::new()))
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map_or("", |(_, value)| value)
    }

    #[test]
    fn the_whole_console_is_under_250_kb() {
        let total: usize = ASSETS.iter().map(|(_, body)| body.len()).sum();
        assert!(total < 250 * 1024, "{total} bytes");
    }

    #[test]
    fn every_asset_has_its_content_type() {
        for (name, _) in ASSETS {
            assert_ne!(content_type(name), "application/octet-stream", "{name}");
        }
    }

    #[test]
    fn the_page_is_served_at_the_root_with_a_strict_policy_and_revalidated() {
        let page = get("/", vec![]).unwrap();
        assert_eq!(page.status_code, 200);
        assert_eq!(header(&page, "Content-Type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "X-Content-Type-Options"), "nosniff");
        assert_eq!(header(&page, "Cache-Control"), "no-cache");
        let policy = header(&page, "Content-Security-Policy");
        assert!(
            policy.contains("script-src 'self';") && !policy.contains("unsafe"),
            "{policy}"
        );
        let etag = header(&page, "ETag").to_string();
        let again = get("/", vec![("If-None-Match".into(), etag)]).unwrap();
        assert_eq!(again.status_code, 304);
        let script = get("/console/app.js?v=1", vec![]).unwrap();
        assert_eq!(
            header(&script, "Content-Type"),
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn other_paths_and_methods_are_left_to_the_api() {
        assert!(get("/api/v1/Version", vec![]).is_none());
        assert!(get("/console/missing.js", vec![]).is_none());
        assert!(get("/console/", vec![]).is_none());
        let post = Request::fake_http("POST", "/", vec![], Vec::new());
        assert!(serve(&post).is_none());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = String::from_utf8_lossy(ASSETS[0].1);
        assert!(!page.contains("<script>") && !page.contains("style="));
        assert!(!page.contains("<style"));
    }
}
