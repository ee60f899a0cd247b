//! Door relays: a lock that opens on command. `SerialRelay` drives the
//! common USB/RS-232 relay boards by writing configured byte sequences.

use std::fmt;
use std::future::Future;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayError(pub String);

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RelayError {}

pub trait DoorRelay: Send {
    fn open(&mut self) -> impl Future<Output = Result<(), RelayError>> + Send;
    fn close(&mut self) -> impl Future<Output = Result<(), RelayError>> + Send;
}

pub struct SerialRelay {
    port: tokio_serial::SerialStream,
    open_bytes: Vec<u8>,
    close_bytes: Vec<u8>,
}

impl SerialRelay {
    /// Opens the serial port (within a tokio runtime).
    pub fn open_port(
        path: &str,
        baud: u32,
        open_bytes: Vec<u8>,
        close_bytes: Vec<u8>,
    ) -> Result<SerialRelay, RelayError> {
        use tokio_serial::SerialPortBuilderExt;
        let port = tokio_serial::new(path, baud)
            .open_native_async()
            .map_err(|e| RelayError(format!("relay port {path}: {e}")))?;
        Ok(SerialRelay {
            port,
            open_bytes,
            close_bytes,
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        self.port
            .write_all(bytes)
            .await
            .map_err(|e| RelayError(format!("relay write failed: {e}")))?;
        self.port
            .flush()
            .await
            .map_err(|e| RelayError(format!("relay flush failed: {e}")))
    }
}

impl DoorRelay for SerialRelay {
    async fn open(&mut self) -> Result<(), RelayError> {
        let bytes = self.open_bytes.clone();
        self.send(&bytes).await
    }

    async fn close(&mut self) -> Result<(), RelayError> {
        let bytes = self.close_bytes.clone();
        self.send(&bytes).await
    }
}

/// Parses a byte sequence written as hex pairs, e.g. `A0 01 01 A2`.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, RelayError> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(RelayError(format!(
            "`{text}` is not a sequence of hex byte pairs"
        )));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| RelayError(format!("`{text}` is not a sequence of hex byte pairs")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::FromRawFd;

    #[test]
    fn hex_sequences_parse_with_or_without_spaces() {
        assert_eq!(
            parse_hex_bytes("A0 01 01 a2").unwrap(),
            vec![0xa0, 1, 1, 0xa2]
        );
        assert_eq!(parse_hex_bytes("ff00").unwrap(), vec![0xff, 0]);
        for bad in ["", "A", "zz", "A0 1"] {
            assert!(parse_hex_bytes(bad).is_err(), "{bad}");
        }
    }

    /// A pseudo-terminal pair: the relay writes to the slave side, the
    /// test reads what a relay board would receive from the master side.
    fn pty() -> (std::fs::File, String) {
        let (mut master, mut slave) = (0, 0);
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: openpty fills the two descriptors and the name buffer.
        let result = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                name.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(result, 0, "openpty");
        // SAFETY: `name` is NUL-terminated by openpty.
        let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        // Raw mode on the slave so bytes pass through untouched.
        // SAFETY: a valid descriptor and a zeroed termios that tcgetattr fills.
        unsafe {
            let mut termios: libc::termios = std::mem::zeroed();
            libc::tcgetattr(slave, &mut termios);
            libc::cfmakeraw(&mut termios);
            libc::tcsetattr(slave, libc::TCSANOW, &termios);
        }
        // SAFETY: both descriptors are ours; the master is owned by the File.
        (unsafe { std::fs::File::from_raw_fd(master) }, path)
    }

    #[test]
    fn the_serial_relay_writes_the_configured_bytes_to_the_port() {
        let (mut board, path) = pty();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut relay = SerialRelay::open_port(
                &path,
                9600,
                vec![0xA0, 0x01, 0x01, 0xA2],
                vec![0xA0, 0x01, 0x00, 0xA1],
            )
            .unwrap();
            relay.open().await.unwrap();
            relay.close().await.unwrap();
        });
        let mut received = [0u8; 8];
        board.read_exact(&mut received).unwrap();
        assert_eq!(received, [0xA0, 0x01, 0x01, 0xA2, 0xA0, 0x01, 0x00, 0xA1]);
    }

    #[test]
    fn a_missing_port_is_a_clear_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime
            .block_on(async {
                SerialRelay::open_port("/dev/ttyFACEGATE-absent", 9600, vec![1], vec![0])
            })
            .err()
            .unwrap();
        assert!(error.0.contains("/dev/ttyFACEGATE-absent"), "{error}");
    }
}
