//! Free space on the filesystem of the data directory.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub struct Space {
    /// Bytes an unprivileged process may still write.
    pub free: u64,
    pub total: u64,
}

/// The space of the filesystem holding `dir`.
pub fn free_space(dir: &Path) -> std::io::Result<Space> {
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs only writes the struct it is given, which is plain
    // data, and reads the NUL-terminated path.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = stats.f_frsize as u64;
    Ok(Space {
        free: stats.f_bavail as u64 * block,
        total: stats.f_blocks as u64 * block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_of_an_existing_directory_is_known_and_of_a_missing_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let space = free_space(dir.path()).unwrap();
        assert!(space.total > 0 && space.free <= space.total, "{space:?}");
        assert!(free_space(&dir.path().join("missing")).is_err());
    }
}
