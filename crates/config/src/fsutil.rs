//! Writes that never leave a half-written or world-readable file behind.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Creates `dir` and any missing parents as private (0700) directories, and makes `dir` itself private
/// if it existed: profiles and backups hold credentials.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (0700)", dir.display()))
}

/// Replaces `path` with `contents` atomically: a temporary file in the same directory, mode 0600,
/// flushed to disk, then renamed over the target; a crash leaves the old file or the new one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .context("a file to write has a parent directory")?;
    private_dir(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    temp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// JSON as people read it: two-space indent, trailing newline.
pub fn write_json_atomic(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("serialising JSON")?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Holds an exclusive lock on `<dir>/.lock` until dropped, so read-modify-write cycles of two processes
/// (or threads) on one profile never interleave.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        private_dir(dir)?;
        let path = dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(DirLock { _file: file })
    }
}

pub fn mode(path: &Path) -> Option<u32> {
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_creates_private_file_and_dir() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("a/b/file.json");
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert_eq!(mode(&path), Some(0o600));
        assert_eq!(mode(path.parent().unwrap()), Some(0o700));
        assert_eq!(
            mode(&root.path().join("a")),
            Some(0o700),
            "intermediate directories are private too"
        );
    }

    #[test]
    fn atomic_write_replaces_a_world_readable_file_with_a_private_one() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("config.json");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), Some(0o600));
        let leftovers: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            ["config.json"],
            "no temporary file is left behind"
        );
    }
}
