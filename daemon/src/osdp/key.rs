//! The reader's Secure Channel base key: the configured one until a panel
//! installs its own (osdp_KEYSET), which is then kept in the data
//! directory (`osdp-scbk`, readable by the daemon only) and wins over the
//! config, as a card reader keeps the key its panel gave it. Removing the
//! file returns the reader to the configured key.

use std::path::{Path, PathBuf};

pub struct KeyFile {
    path: PathBuf,
    current: Option<[u8; 16]>,
    installed_by_panel: bool,
}

const FILE_NAME: &str = "osdp-scbk";

impl KeyFile {
    /// The key in force: the panel's kept one, else `configured` (32 hex
    /// digits, or "" for none).
    pub fn new(data_dir: &Path, configured: &str) -> Result<KeyFile, String> {
        let configured = match configured.trim() {
            "" => None,
            hex => Some(parse_key(hex).ok_or_else(|| {
                "invalid config: osdp.secure_channel_key is not 16 bytes of hex (32 digits)"
                    .to_string()
            })?),
        };
        let path = data_dir.join(FILE_NAME);
        let kept = match super::kept::read_bounded(&path) {
            Ok(text) => Some(parse_key(text.trim()).ok_or_else(|| {
                format!(
                    "{} does not hold a key: remove it to use the configured one",
                    path.display()
                )
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(KeyFile {
            path,
            installed_by_panel: kept.is_some(),
            current: kept.or(configured),
        })
    }

    pub fn current(&self) -> Option<[u8; 16]> {
        self.current
    }

    /// What the status shows: where the key came from, never the key.
    pub fn describe(&self) -> String {
        match (self.current, self.installed_by_panel) {
            (None, _) => "none (install mode)".into(),
            (Some(_), true) => "installed by the panel".into(),
            (Some(_), false) => "configured".into(),
        }
    }

    /// Keeps the panel's new key, durably, before the reader acknowledges
    /// it: a key the panel believes installed must survive a power cut.
    pub fn install(&mut self, key: &[u8]) -> Result<(), String> {
        let key: [u8; 16] = key
            .try_into()
            .map_err(|_| format!("a key of {} bytes, not 16", key.len()))?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let written = super::kept::write_durably(&self.path, &hex);
        written.map_err(|e| format!("cannot keep the key in {}: {e}", self.path.display()))?;
        self.current = Some(key);
        self.installed_by_panel = true;
        Ok(())
    }
}

fn parse_key(hex: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() != 32 {
        return None;
    }
    let mut key = [0u8; 16];
    for (byte, pair) in key.iter_mut().zip(digits.chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn the_panels_key_is_kept_and_wins_over_the_configured_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = KeyFile::new(dir.path(), KEY).unwrap();
        assert_eq!(keys.current().unwrap()[15], 0xff);
        assert_eq!(keys.describe(), "configured");
        keys.install(&[7; 16]).unwrap();
        let again = KeyFile::new(dir.path(), KEY).unwrap();
        assert_eq!(again.current(), Some([7; 16]));
        assert_eq!(again.describe(), "installed by the panel");
        let mode = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_malformed_key_is_refused_and_no_key_is_install_mode() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "0011",
            "zz112233445566778899aabbccddeeff",
            &format!("{KEY}00"),
        ] {
            let err = KeyFile::new(dir.path(), bad).err().unwrap();
            assert!(err.contains("osdp.secure_channel_key"), "{err}");
        }
        // A kept file that is no key (here, one far too long) is refused,
        // naming it, rather than read whole or ignored.
        let kept = dir.path().join(FILE_NAME);
        std::fs::write(&kept, "0".repeat(1 << 20)).unwrap();
        let err = KeyFile::new(dir.path(), KEY).err().unwrap();
        assert!(err.contains("osdp-scbk"), "{err}");
        std::fs::remove_file(&kept).unwrap();
        let none = KeyFile::new(dir.path(), "").unwrap();
        assert_eq!(
            (none.current(), none.describe().as_str()),
            (None, "none (install mode)")
        );
        let mut none = none;
        assert!(none.install(&[1; 15]).is_err());
        assert_eq!(none.current(), None);
    }
}
