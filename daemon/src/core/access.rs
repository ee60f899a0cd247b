//! The API key every front end asks for (REST and gRPC alike): sent as
//! `Authorization: Bearer KEY` or `X-Api-Key: KEY`.

/// The configured key; empty when the front ends are open.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: &str) -> ApiKey {
        ApiKey(key.to_string())
    }

    /// Whether a request with these headers may proceed.
    pub fn admits(&self, authorization: Option<&str>, x_api_key: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let bearer = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        bearer
            .or_else(|| x_api_key.map(str::trim))
            .is_some_and(|offered| constant_time_eq(offered.as_bytes(), self.0.as_bytes()))
    }
}

/// Compares secrets without leaking the length of the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"key", b"key"));
        assert!(!constant_time_eq(b"key", b"kez"));
        assert!(!constant_time_eq(b"key", b"key2"));
    }

    #[test]
    fn a_key_is_taken_as_a_bearer_token_or_an_x_api_key_header() {
        let key = ApiKey::new("secret");
        assert!(key.admits(Some("Bearer secret"), None));
        assert!(key.admits(Some("bearer  secret "), None));
        assert!(key.admits(None, Some("secret")));
        assert!(!key.admits(Some("Basic secret"), None));
        assert!(!key.admits(Some("Bearer wrong"), Some("secret")));
        assert!(!key.admits(None, None));
        assert!(ApiKey::new("").admits(None, None));
    }
}
