//! What the reader keeps in the data directory of what its panel set: a
//! small text file each, written whole and durably before the reader
//! acknowledges the command, as a card reader commits to its non-volatile
//! memory; readable by the daemon only.

use std::io::{Read, Write};
use std::path::Path;

/// Every kept file is a line of a few dozen bytes; one far longer is not
/// one, and is not read whole.
const MAX_KEPT_FILE_BYTES: u64 = 256;

/// `text` as the whole of `path`, surviving a power cut once this returns.
pub(super) fn write_durably(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The file's text, at most `MAX_KEPT_FILE_BYTES` and one more of it (so
/// that a longer one does not parse).
pub(super) fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_KEPT_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    Ok(text)
}
