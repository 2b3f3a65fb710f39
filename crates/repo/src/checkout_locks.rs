//! Lock files git leaves in a service's own (bare) checkout when the process is
//! killed mid-fetch or mid-push (`refs/remotes/origin/main.lock`, `index.lock`,
//! `packed-refs.lock`, `shallow.lock`, ...). While one exists, every later fetch
//! fails with "failed to lock file", so they are cleared: all of them when the
//! checkout is opened (it belongs to one process, and nothing of that process runs
//! yet), and at run time those older than a bound (no live operation holds a ref
//! lock for minutes).
//!
//! Only the checkout is touched, never the remote repo: a lock there may belong to
//! a git process on another machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Removes every `*.lock` file under `dir`; returns the ones removed.
pub fn clear_all(dir: &Path) -> Vec<PathBuf> {
    clear(dir, &|_| true)
}

/// Removes `*.lock` files under `dir` last modified more than `age` before `now`,
/// skipping the object store (git writes objects through temporary files, never
/// `.lock` files, and it is by far the largest folder); returns the ones removed.
pub fn clear_older_than(dir: &Path, age: Duration, now: SystemTime) -> Vec<PathBuf> {
    let old = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|d| d > age))
    };
    let objects = dir.join("objects");
    clear(dir, &|path| !path.starts_with(&objects) && old(path))
}

fn clear(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            // `file_type` does not follow links, so the walk stays inside the checkout.
            if kind.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") && wanted(&path) {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed.push(path),
                    // Gone meanwhile: whoever held it has let go.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        "cannot remove a stale git lock file, fetches will fail until it is deleted: {e}"
                    ),
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let refs = dir.path().join("refs/remotes/origin");
        std::fs::create_dir_all(&refs).unwrap();
        std::fs::write(refs.join("main.lock"), "x").unwrap();
        std::fs::write(refs.join("main"), "x").unwrap();
        std::fs::write(dir.path().join("packed-refs.lock"), "x").unwrap();
        std::fs::write(dir.path().join("config"), "x").unwrap();
        (dir, refs)
    }

    #[test]
    fn at_open_every_lock_file_is_removed_and_nothing_else() {
        let (dir, refs) = checkout();
        let removed = clear_all(dir.path());
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!refs.join("main.lock").exists());
        assert!(!dir.path().join("packed-refs.lock").exists());
        assert!(refs.join("main").exists());
        assert!(dir.path().join("config").exists());
    }

    #[test]
    fn at_run_time_only_lock_files_older_than_the_bound_are_removed() {
        let (dir, refs) = checkout();
        let now = SystemTime::now();
        assert!(
            clear_older_than(dir.path(), Duration::from_secs(120), now).is_empty(),
            "fresh locks may belong to a live operation"
        );
        assert!(refs.join("main.lock").exists());
        let later = now + Duration::from_secs(121);
        let removed = clear_older_than(dir.path(), Duration::from_secs(120), later);
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!refs.join("main.lock").exists());
        assert!(refs.join("main").exists());
    }
}
