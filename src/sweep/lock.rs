//! One writer per output: an exclusive lock on `OUT.partial/lock`.
//!
//! The lock is an advisory `flock` on the file `lock` in the partial-results
//! folder, which also records the holder's process id for the error a second run
//! gets ([`Error::Busy`]). The kernel drops the lock when its process ends, however
//! it ends, so a killed run never blocks the rerun that resumes it.

use crate::output::write_error;
use crate::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The name of the lock file inside a partial-results folder.
pub const LOCK_FILE: &str = "lock";

/// A held lock on a partial-results folder; dropping it releases the lock.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the lock of partial-results folder `dir` of output `out`, creating the
    /// folder. Fails at once with [`Error::Busy`] while another process holds it.
    pub fn acquire(out: &Path, dir: &Path) -> Result<OutputLock> {
        let path = dir.join(LOCK_FILE);
        // A finished run removes the folder, lock file included, while it still holds
        // the lock: a lock taken on a file that is no longer at `path` guards nothing,
        // so it is taken again on the new file.
        for _ in 0..100 {
            std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e, 0))?;
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(write_error(&path, e, 0)),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(Error::Busy {
                        out: out.to_path_buf(),
                        pid: text.trim().parse().ok(),
                        lock: path,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
            if !same_file(&file, &path) {
                continue;
            }
            let written = file
                .set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()));
            written.map_err(|e| write_error(&path, e, 16))?;
            return Ok(OutputLock { file, path });
        }
        Err(Error::Resume {
            path: dir.to_path_buf(),
            message: "its lock file keeps disappearing: another process is removing the folder"
                .into(),
        })
    }

    /// Removes the folder the lock guards, with everything in it, then releases the
    /// lock. A file another run created there after the lock file was removed stays.
    pub fn remove_folder(self) -> Result<()> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if entry.file_name() != LOCK_FILE {
                let p = entry.path();
                let removed = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                removed.map_err(|e| Error::io(&p, e))?;
            }
        }
        std::fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, e))?;
        // Not empty only if a new run started here in the meantime: the folder is its now.
        let _ = std::fs::remove_dir(&dir);
        drop(self.file);
        Ok(())
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}
