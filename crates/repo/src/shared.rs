//! The resource repo shared by a service's tasks: every git call on a blocking
//! thread, writes one at a time, reads beside them.

use std::sync::{Arc, Mutex};

use crate::{GitError, RepoSettings, ResourceRepo};

/// The resource repo, usable from async code: every git call runs on a blocking
/// thread. Fetches and pushes ([`SharedRepo::with`]) run one at a time; reads
/// ([`SharedRepo::read`]) go through a second handle, so they never wait for a
/// fetch or push that hangs on the remote.
#[derive(Clone)]
pub struct SharedRepo {
    inner: Arc<Mutex<ResourceRepo>>,
    reader: Arc<Mutex<ResourceRepo>>,
}

impl SharedRepo {
    /// Opens (creating if needed) the local copy; does not fetch.
    pub async fn open(settings: &RepoSettings) -> Result<Self, GitError> {
        let location = settings.location();
        let repo = tokio::task::spawn_blocking(move || ResourceRepo::open(location))
            .await
            .map_err(|e| GitError::Change(format!("git worker failed: {e}")))??;
        Self::from_repo(repo).await
    }

    /// Shares an opened repo (for one opened with a push sleeper of its own).
    pub async fn from_repo(repo: ResourceRepo) -> Result<Self, GitError> {
        let (repo, reader) = tokio::task::spawn_blocking(move || {
            let reader = repo.reader()?;
            Ok::<_, GitError>((repo, reader))
        })
        .await
        .map_err(|e| GitError::Change(format!("git worker failed: {e}")))??;
        Ok(SharedRepo {
            inner: Arc::new(Mutex::new(repo)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// Runs `f` with the repo on a blocking thread, after the fetch or push in
    /// progress; if that one timed out, the first fetch or push of `f` fails at once.
    pub async fn with<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&ResourceRepo) -> R + Send + 'static,
        R: Send + 'static,
    {
        let since = std::time::Instant::now();
        Self::run(self.inner.clone(), move |repo| {
            repo.waited_since(since);
            f(repo)
        })
        .await
    }

    /// Runs `f` on a blocking thread with the reading handle: it sees what the last
    /// fetch brought and must not fetch or push itself.
    pub async fn read<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&ResourceRepo) -> R + Send + 'static,
        R: Send + 'static,
    {
        Self::run(self.reader.clone(), f).await
    }

    async fn run<R, F>(inner: Arc<Mutex<ResourceRepo>>, f: F) -> R
    where
        F: FnOnce(&ResourceRepo) -> R + Send + 'static,
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the repo itself consistent
            // (every write is a whole commit), so a poisoned lock is still usable.
            let guard = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}
