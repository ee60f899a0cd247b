//! The reader's address and speed on the bus: the configured ones until
//! the panel changes them (osdp_COMSET), which are then kept in the data
//! directory (`osdp-line`, "ADDRESS BAUD") and win over the config, as a
//! card reader keeps what its panel set. Removing the file returns the
//! reader to the configured ones.

use super::kept::{read_bounded, write_durably};
use std::path::{Path, PathBuf};

/// The speeds OSDP readers run at.
pub const BAUD_RATES: [u32; 5] = [9600, 19200, 38400, 57600, 115200];
/// Addresses 0 to 126; 127 is the broadcast address.
pub const MAX_ADDRESS: u8 = 126;

const FILE_NAME: &str = "osdp-line";

pub struct LineFile {
    path: PathBuf,
    pub address: u8,
    pub baud: u32,
    pub set_by_panel: bool,
}

/// Whether a reader may run at `address` and `baud`.
pub fn valid(address: u8, baud: u32) -> bool {
    address <= MAX_ADDRESS && BAUD_RATES.contains(&baud)
}

impl LineFile {
    /// The settings in force: the panel's kept ones, else the configured.
    pub fn new(data_dir: &Path, address: u8, baud: u32) -> Result<LineFile, String> {
        let path = data_dir.join(FILE_NAME);
        let unreadable = || {
            format!(
                "{} does not hold an address and a speed: remove it to use the configured ones",
                path.display()
            )
        };
        let kept = match read_bounded(&path) {
            Ok(text) => Some(parse(&text).ok_or_else(unreadable)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let ((address, baud), set_by_panel) = match kept {
            Some(kept) => (kept, true),
            None => ((address, baud), false),
        };
        Ok(LineFile {
            path,
            address,
            baud,
            set_by_panel,
        })
    }

    /// Keeps the panel's new settings, durably, before the reader switches
    /// to them: a reader that came back at its old address after a power
    /// cut would be lost to the panel.
    pub fn keep(&mut self, address: u8, baud: u32) -> Result<(), String> {
        if !valid(address, baud) {
            return Err(format!(
                "address {address} at {baud} baud is not a reader's"
            ));
        }
        write_durably(&self.path, &format!("{address} {baud}\n")).map_err(|e| {
            format!(
                "cannot keep the line's settings in {}: {e}",
                self.path.display()
            )
        })?;
        (self.address, self.baud, self.set_by_panel) = (address, baud, true);
        Ok(())
    }
}

fn parse(text: &str) -> Option<(u8, u32)> {
    let mut words = text.split_whitespace();
    let address: u8 = words.next()?.parse().ok()?;
    let baud: u32 = words.next()?.parse().ok()?;
    (words.next().is_none() && valid(address, baud)).then_some((address, baud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panels_address_and_speed_are_kept_and_win_over_the_configured_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut line = LineFile::new(dir.path(), 0, 9600).unwrap();
        assert_eq!(
            (line.address, line.baud, line.set_by_panel),
            (0, 9600, false)
        );
        line.keep(5, 19200).unwrap();
        let again = LineFile::new(dir.path(), 0, 9600).unwrap();
        assert_eq!(
            (again.address, again.baud, again.set_by_panel),
            (5, 19200, true)
        );
        let mode = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn settings_no_reader_can_run_at_are_refused_and_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut line = LineFile::new(dir.path(), 3, 9600).unwrap();
        for (address, baud) in [(127, 9600), (255, 9600), (3, 14400), (3, 0)] {
            assert!(line.keep(address, baud).is_err(), "{address} {baud}");
        }
        assert!(!dir.path().join(FILE_NAME).exists());
        // A kept file that is no settings is refused, naming it.
        for bad in ["5", "5 12345", "200 9600", "5 9600 7", &"9".repeat(1 << 20)] {
            std::fs::write(dir.path().join(FILE_NAME), bad).unwrap();
            let err = LineFile::new(dir.path(), 3, 9600).err().unwrap();
            assert!(err.contains("osdp-line"), "{bad:.20}: {err}");
        }
    }
}
