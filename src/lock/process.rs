//! The work lock: one process at a time writes beside a config.

use std::fs::File;
use std::path::Path;

use crate::error::Error;

/// An exclusive lock on `.mtasts.lock` beside the config, held while a command writes.
#[derive(Debug)]
pub struct WorkLock {
    _file: File,
}

impl WorkLock {
    /// Takes the lock, waiting up to `wait` for another holder, else fails with [`Error::Busy`].
    pub fn acquire(config: &Path, wait: std::time::Duration) -> Result<WorkLock, Error> {
        let dir = config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let path = dir.join(".mtasts.lock");
        let mut options = File::options();
        options.create(true).truncate(false).write(true);
        // A symlink committed in place of the lock (or planted beside a root CI job's config)
        // must not make this open create or truncate a file elsewhere: refused, not followed.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            rustix::fs::OFlags::NOFOLLOW.bits() as i32,
        );
        let file = options.open(&path).map_err(|e| {
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                Error::UnsafeOutput {
                    path: path.clone(),
                    reason: "the work lock is a symbolic link; mtasts does not follow it".into(),
                }
            } else {
                Error::io(&path)(e)
            }
        })?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WorkLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Busy(path)),
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
            }
        }
    }
}
