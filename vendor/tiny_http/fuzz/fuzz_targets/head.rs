//! `head::parse` on any bytes. The first 4 bytes of the input choose the
//! limits (header slots, largest declared body), the rest is the head. It
//! must never panic, and what it accepts or refuses must keep its rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tiny_http::fuzzing::{parse_head, BodyFraming};
use tiny_http::Limits;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limits = Limits {
        max_headers: data[0] as usize % 120,
        max_body_bytes: match data[1] % 4 {
            0 => 0,
            1 => u16::from_le_bytes([data[2], data[3]]) as u64,
            2 => 16 * 1024 * 1024,
            _ => u64::MAX,
        },
        ..Limits::default()
    };
    let bytes = &data[4..];
    match parse_head(bytes, &limits) {
        Err((status, detail)) => {
            assert!(
                matches!(status, 400 | 413 | 417 | 431 | 501 | 505),
                "refused with {status}: {detail}"
            );
            assert!(!detail.is_empty());
        }
        Ok(head) => {
            assert!(head.headers.len() <= limits.max_headers);
            assert!(matches!(head.version.0, 1) && matches!(head.version.1, 0 | 1));
            let named =
                |name: &'static str| head.headers.iter().filter(|h| h.field.equiv(name)).count();
            match head.framing {
                BodyFraming::Length(n) => {
                    assert!(n > 0 && n <= limits.max_body_bytes, "length {n}");
                    assert!(named("Content-Length") > 0 && named("Transfer-Encoding") == 0);
                }
                BodyFraming::Chunked => {
                    assert!(named("Transfer-Encoding") == 1 && named("Content-Length") == 0);
                }
                BodyFraming::Empty => assert_eq!(named("Transfer-Encoding"), 0),
            }
            if head.keep_alive && head.version.1 == 0 {
                assert!(
                    named("Connection") > 0,
                    "HTTP/1.0 kept alive without asking"
                );
            }
            // The same bytes give the same head.
            let again = parse_head(bytes, &limits).expect("accepted once, refused again");
            assert_eq!(again.path, head.path);
            assert_eq!(again.framing, head.framing);
            assert_eq!(again.headers.len(), head.headers.len());
        }
    }
});
