//! A serial line that never blocks, for protocol stacks that poll (the
//! OSDP reader's): reads return what has arrived, writes what the port
//! takes. RS-485 adapters appear as ordinary serial ports.

use serialport::SerialPort;
use std::io::{self, Read, Write};
use std::time::Duration;

/// What an OSDP stack needs of its line.
pub trait SerialLine: Send {
    /// The bytes that have arrived, up to `buf.len()`; 0 when none have.
    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_some(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Returns once every byte written has left.
    fn flush(&mut self) -> io::Result<()>;
    /// Changes the line's speed (after a flush, so nothing written is
    /// sent at the new one).
    fn set_baud_rate(&mut self, baud: u32) -> io::Result<()>;
}

/// A serial port, `path` at `baud`, 8N1.
pub struct SerialPortLine {
    port: Box<dyn SerialPort>,
}

impl SerialPortLine {
    pub fn open(path: &str, baud: u32) -> io::Result<SerialPortLine> {
        let port = serialport::new(path, baud)
            // Reads return at once with what is there.
            .timeout(Duration::ZERO)
            .open()
            .map_err(|e| io::Error::other(format!("serial port {path}: {e}")))?;
        Ok(SerialPortLine { port })
    }
}

/// A port with a zero timeout says "timed out" for "no bytes yet".
fn none_yet(moved: io::Result<usize>) -> io::Result<usize> {
    match moved {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            Ok(0)
        }
        moved => moved,
    }
}

impl SerialLine for SerialPortLine {
    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        none_yet(self.port.read(buf))
    }

    fn write_some(&mut self, buf: &[u8]) -> io::Result<usize> {
        none_yet(self.port.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        // tcdrain(3) for a serial port.
        self.port.flush()
    }

    fn set_baud_rate(&mut self, baud: u32) -> io::Result<()> {
        self.port.flush()?;
        self.port.set_baud_rate(baud).map_err(io::Error::other)
    }
}
