//! Private key files, written once. In development Anslut generates its keys on first start
//! (the token key, the webhook secret key, the checkpoint signing key) into the data
//! directory; several processes may start at once (`serve` and a CLI command), so creating one
//! must be atomic: a reader never sees a half-written key, and two creators never end up with
//! different keys.
//!
//! [`create_if_missing`] writes the contents to a temporary file beside the target (mode
//! 0600, synced), then publishes it with a hard link, which fails when the target exists: the
//! first creator wins and everyone reads the winner's key. [`warn_if_readable_by_others`]
//! warns about a key file other users can read (mounted secrets often are).

#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Creates `path` holding `contents` unless it exists; true when this call created it.
/// Parent directories are created. The file is mode 0600 (on Unix) from its first byte.
pub fn create_if_missing(path: &Path, contents: &[u8]) -> io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let temporary = temporary_beside(path);
    let written = (|| {
        let mut file = create_private(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    let published = written.and_then(|()| match fs::hard_link(&temporary, path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    });
    let _ = fs::remove_file(&temporary);
    let created = published?;
    if created {
        // The new name must survive a crash too.
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(created)
}

fn temporary_beside(path: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()))
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Warns when the key file `path` is readable by other users. Mounted secrets are often
/// group-readable (Kubernetes' default is 0644), so this warns rather than refuses.
pub fn warn_if_readable_by_others(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "{what} is readable by other users"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_file_with_its_parents_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/dev.key");
        assert!(create_if_missing(&path, b"first\n").unwrap());
        assert!(!create_if_missing(&path, b"second\n").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"first\n", "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary file is left: {leftovers:?}"
        );
    }

    #[test]
    fn racing_creators_all_read_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.key");
        let created: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8_u8)
                .map(|i| {
                    let path = &path;
                    scope.spawn(move || {
                        let mine = vec![b'a' + i; 64];
                        let created = create_if_missing(path, &mine).unwrap();
                        // Whoever won, the file is whole from the moment it exists.
                        let read = fs::read(path).unwrap();
                        assert_eq!(read.len(), 64);
                        assert!(read.iter().all(|b| *b == read[0]));
                        created
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(created.iter().filter(|c| **c).count(), 1, "one winner");
    }
}
