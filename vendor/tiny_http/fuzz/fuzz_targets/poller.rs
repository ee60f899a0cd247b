//! The whole poller path without a network: the input's bytes go, in up to
//! three writes (split where its first two bytes say), into a real `Server`
//! on a Unix socket with small limits; two worker threads read each
//! request's body and answer it. The client then closes its side and reads
//! everything the server sends. No thread may panic (libfuzzer-sys aborts on
//! any panic), the server must finish within 5 s (a wedged poller), and
//! whatever it sends must be HTTP/1.x answers.
#![no_main]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tiny_http::{Limits, Response, Server};

fn server() -> &'static PathBuf {
    static SOCKET: OnceLock<PathBuf> = OnceLock::new();
    SOCKET.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("tiny_http-fuzz-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let limits = Limits {
            head_timeout: Duration::from_secs(3),
            body_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(3),
            max_head_bytes: 1024,
            max_line_bytes: 256,
            max_headers: 8,
            max_body_bytes: 4096,
            max_drain_bytes: 512,
            max_connections: 64,
        };
        let server: &'static Server = Box::leak(Box::new(
            Server::from_listener_with_limits(listener, None, limits).unwrap(),
        ));
        for _ in 0..2 {
            std::thread::spawn(move || loop {
                let Ok(mut request) = server.recv() else {
                    continue;
                };
                let mut body = Vec::new();
                // Half the requests leave their body unread (the poller drains it).
                let read = match request.url().len() % 2 {
                    0 => request
                        .as_reader()
                        .take(1 << 20)
                        .read_to_end(&mut body)
                        .unwrap_or(0),
                    _ => 0,
                };
                let _ = request.respond(Response::from_string(format!("{read}")));
            });
        }
        path
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let path = server();
    let bytes = &data[2..];
    let cut = |b: u8| (b as usize * bytes.len()) / 255;
    let (a, b) = (
        cut(data[0]).min(cut(data[1])),
        cut(data[0]).max(cut(data[1])),
    );
    let mut client = UnixStream::connect(path).expect("the server stopped accepting");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for part in [&bytes[..a], &bytes[a..b], &bytes[b..]] {
        // The server may close first (a refusal): allowed.
        if !part.is_empty() && client.write_all(part).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    match client.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "the server did not finish within 5 s: {e}; {} bytes read",
            answer.len()
        ),
    }
    if !answer.is_empty() {
        // tiny_http answers an HTTP/1.0 request in HTTP/1.0.
        assert!(
            answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    }
});
