//! The local copy of the resource repo: opening (and creating) the bare
//! checkout, fetching the branch, and the bounds on every network call.
//!
//! The checkout is a bare repository: nothing here ever touches a work tree, so
//! readers see exactly the commit they ask for. Every call blocks: async callers
//! run it in `spawn_blocking` (see [`crate::SharedRepo`]). Every network call is
//! bounded by `git_timeout` (connect, and each read and write), and lock files a
//! killed process left in the checkout are cleared ([`crate::checkout_locks`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use git2::Repository;
use slipway_core::duration::format_duration;

use crate::auth::{callbacks, GitAuth, Refusals};
use crate::checkout_locks;
use crate::error::GitCause;
use crate::push::Sleeper;
use crate::snapshot::SnapshotCache;
use crate::{CommitId, GitError};

/// Default of `git_timeout`: how long a fetch or push may wait to connect, or for
/// each answer of the remote.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `git_stale_lock_after`: a lock file in the checkout older than this
/// is left over from a killed process (git holds one for milliseconds).
pub const DEFAULT_STALE_LOCK_AFTER: Duration = Duration::from_secs(120);

/// Where the repo is and where its local copy lives.
#[derive(Debug, Clone)]
pub struct RepoLocation {
    /// Local path, `file://`, `https://` or `ssh://` URL.
    pub url: String,
    /// Where the bare local copy is kept.
    pub checkout_path: PathBuf,
    /// Branch that holds the environments.
    pub branch: String,
    pub auth: GitAuth,
    /// Bound of connecting and of each read or write of a network fetch or push
    /// (process-wide: the first repo opened in a process sets it).
    pub timeout: Duration,
    /// Age after which a lock file in the checkout is removed at run time.
    pub stale_lock_after: Duration,
}

/// The local copy of the resource repo.
pub struct ResourceRepo {
    pub(crate) repo: Repository,
    pub(crate) location: RepoLocation,
    /// The last snapshot read, with the tree id of each of its folders.
    pub(crate) snapshot_cache: SnapshotCache,
    /// When the last network call timed out, and what git said.
    last_timeout: Mutex<Option<(Instant, String)>>,
    /// When the caller of the current call began to wait for the repo (see [`ResourceRepo::waited_since`]).
    waited_since: Mutex<Option<Instant>>,
    /// How the push loop waits between attempts (a real sleep but in tests).
    pub(crate) push_sleeper: Sleeper,
}

impl ResourceRepo {
    /// Opens the local copy at `checkout_path`, creating it (bare) if needed, and
    /// points its `origin` at `url`. Does not fetch.
    ///
    /// The checkout belongs to this process alone and nothing of it runs yet, so
    /// every lock file in it is left over from a killed process and is removed.
    pub fn open(location: RepoLocation) -> Result<Self, GitError> {
        bound_network_calls(location.timeout);
        if let Some(ca_file) = &location.auth.ca_file {
            trust_ca_file(ca_file).map_err(|reason| GitError::Refused {
                action: "open",
                url: location.url.clone(),
                reason,
            })?;
        }
        let path = &location.checkout_path;
        for lock in checkout_locks::clear_all(path) {
            tracing::warn!(path = %lock.display(), "removed a git lock file left in the checkout by an earlier crash");
        }
        let url = location.url.clone();
        let git = |action: &'static str| {
            let url = url.clone();
            move |e: git2::Error| GitError::Git {
                action,
                url,
                source: GitCause::of(&e),
            }
        };
        let repo = match Repository::open_bare(path) {
            Ok(repo) => repo,
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|source| GitError::Io {
                    path: path.clone(),
                    source,
                })?;
                Repository::init_bare(path).map_err(git("init"))?
            }
        };
        match repo.find_remote("origin") {
            Ok(remote) if remote.url().ok() == Some(location.url.as_str()) => {}
            Ok(_) => repo
                .remote_set_url("origin", &location.url)
                .map_err(git("set remote"))?,
            Err(_) => {
                repo.remote("origin", &location.url).map_err(git("add remote"))?;
            }
        }
        Ok(ResourceRepo {
            repo,
            location,
            snapshot_cache: SnapshotCache::default(),
            last_timeout: Mutex::new(None),
            waited_since: Mutex::new(None),
            push_sleeper: Arc::new(std::thread::sleep),
        })
    }

    /// A second handle on the same checkout, for reads that must not wait for a
    /// fetch or push of this one (`git2::Repository` is `Send` but not `Sync`).
    /// It only reads: fetching or pushing through it would race this handle's locks.
    pub fn reader(&self) -> Result<Self, GitError> {
        let repo = Repository::open_bare(&self.location.checkout_path).map_err(self.err("open"))?;
        Ok(ResourceRepo {
            repo,
            location: self.location.clone(),
            snapshot_cache: SnapshotCache::default(),
            last_timeout: Mutex::new(None),
            waited_since: Mutex::new(None),
            push_sleeper: Arc::new(std::thread::sleep),
        })
    }

    /// Opens and fetches once.
    pub fn open_and_fetch(location: RepoLocation) -> Result<Self, GitError> {
        let repo = Self::open(location)?;
        repo.fetch()?;
        Ok(repo)
    }

    /// Replaces how the push loop waits between attempts (`std::thread::sleep`):
    /// a test can hold a push in retry, or let it retry without waiting.
    pub fn with_push_sleeper(mut self, sleeper: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.push_sleeper = Arc::new(sleeper);
        self
    }

    /// The repo URL.
    pub fn url(&self) -> &str {
        &self.location.url
    }

    /// Like [`ResourceRepo::err`] for a network call with callbacks that may have
    /// refused the host key or run out of credentials: that refusal is the error.
    pub(crate) fn remote_err<'a>(
        &'a self,
        action: &'static str,
        refusals: &'a Refusals,
    ) -> impl Fn(git2::Error) -> GitError + 'a {
        move |source| match refusals.take() {
            Some(reason) => GitError::Refused {
                action,
                url: self.location.url.clone(),
                reason,
            },
            None if source.code() == git2::ErrorCode::Certificate && self.location.url.starts_with("https://") => {
                let trusted = match &self.location.auth.ca_file {
                    Some(file) => format!("the system's CA store or git.ca_file {}", file.display()),
                    None => "the system's CA store (set git.ca_file for a private CA)".to_string(),
                };
                GitError::Refused {
                    action,
                    url: self.location.url.clone(),
                    reason: format!(
                        "the host's TLS certificate is not trusted ({}): it must be signed by a CA of {trusted} and name the host",
                        source.message()
                    ),
                }
            }
            None => self.err(action)(source),
        }
    }

    pub(crate) fn err(&self, action: &'static str) -> impl Fn(git2::Error) -> GitError + '_ {
        move |source| {
            let url = self.location.url.clone();
            // libgit2 reports its socket time-outs as GIT_TIMEOUT; some transports only say so
            // in words (libssh2: "Timed out waiting on socket").
            if source.code() == git2::ErrorCode::Timeout || source.message().to_ascii_lowercase().contains("timed out")
            {
                if let Ok(mut last) = self.last_timeout.lock() {
                    *last = Some((Instant::now(), source.message().to_string()));
                }
                GitError::Timeout {
                    action,
                    url,
                    timeout: self.location.timeout,
                    source: GitCause::of(&source),
                }
            } else {
                GitError::Git {
                    action,
                    url,
                    source: GitCause::of(&source),
                }
            }
        }
    }

    /// Tells the repo that the coming call's caller has waited for it since `since`
    /// (while another call held it). If a network call timed out meanwhile, the
    /// first fetch or push of the coming call fails at once with that time-out
    /// instead of waiting as long again: callers queued behind a hanging remote
    /// answer within one `git_timeout`, not one each.
    pub fn waited_since(&self, since: Instant) {
        if let Ok(mut w) = self.waited_since.lock() {
            *w = Some(since);
        }
    }

    /// The time-out that happened while the caller waited (once per call).
    pub(crate) fn timed_out_while_waiting(&self, action: &'static str) -> Option<GitError> {
        let since = self.waited_since.lock().ok()?.take()?;
        let (at, message) = self.last_timeout.lock().ok()?.clone()?;
        (at > since).then(|| GitError::Timeout {
            action,
            url: self.location.url.clone(),
            timeout: self.location.timeout,
            source: GitCause::said(format!("{message}, in the call this one waited for")),
        })
    }

    /// Removes lock files of the checkout older than `stale_lock_after`. Called with
    /// the repo held (`&self` of the one writing handle), so no operation of this
    /// process holds one: a lock that old is left over from a killed process.
    pub(crate) fn clear_stale_locks(&self) {
        let bound = self.location.stale_lock_after;
        for lock in checkout_locks::clear_older_than(&self.location.checkout_path, bound, SystemTime::now()) {
            tracing::warn!(
                path = %lock.display(),
                "removed a git lock file older than {} that no operation of this service holds (left by a killed process)",
                format_duration(bound)
            );
        }
    }

    pub(crate) fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.location.branch)
    }

    /// Fetches the branch; returns its head, `None` while the remote has no commits.
    pub fn fetch(&self) -> Result<Option<CommitId>, GitError> {
        if let Some(e) = self.timed_out_while_waiting("fetch") {
            return Err(e);
        }
        self.clear_stale_locks();
        let mut remote = self.repo.find_remote("origin").map_err(self.err("fetch"))?;
        let mut opts = git2::FetchOptions::new();
        let (cb, refusals) = callbacks(&self.location.auth, &self.location.url);
        opts.remote_callbacks(cb);
        let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", self.location.branch);
        remote
            .fetch(&[refspec.as_str()], Some(&mut opts), None)
            .map_err(self.remote_err("fetch", &refusals))?;
        Ok(self.head())
    }

    /// The last fetched head of the branch.
    pub fn head(&self) -> Option<CommitId> {
        self.repo
            .refname_to_id(&self.tracking_ref())
            .ok()
            .map(CommitId::from_oid)
    }
}

/// Sets libgit2's connect and read/write time-outs, once per process: the first
/// repo opened decides (each service runs in its own process, so that is its
/// `git_timeout`).
fn bound_network_calls(timeout: Duration) {
    static SET: OnceLock<Duration> = OnceLock::new();
    let set = *SET.get_or_init(|| {
        // 0 would mean "wait forever" to libgit2.
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX).max(1);
        set_libgit2_timeouts(ms);
        timeout
    });
    if set != timeout {
        tracing::warn!(
            "git_timeout {} ignored: this process already bounds git calls by {} (the setting is process-wide)",
            format_duration(timeout),
            format_duration(set)
        );
    }
}

/// Adds the CA certificates of `ca_file` (PEM) to what https remotes are checked
/// against, besides the system's CA store; each file once per process. The trust
/// store is process-wide in libgit2, and each service runs in its own process.
fn trust_ca_file(ca_file: &std::path::Path) -> Result<(), String> {
    static TRUSTED: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());
    let mut trusted = TRUSTED.lock().unwrap_or_else(|p| p.into_inner());
    if trusted.iter().any(|f| f == ca_file) {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(ca_file).map_err(|e| format!("cannot read git.ca_file {}: {e}", ca_file.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "git.ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ca_file.display()
        ));
    }
    add_libgit2_ca_file(ca_file)
        .map_err(|e| format!("cannot load git.ca_file {}: {}", ca_file.display(), e.message()))?;
    trusted.push(ca_file.to_path_buf());
    Ok(())
}

#[allow(unsafe_code)]
fn add_libgit2_ca_file(ca_file: &std::path::Path) -> Result<(), git2::Error> {
    // SAFETY: libgit2 hands the file to OpenSSL's SSL_CTX_load_verify_locations on
    // its one TLS context, which adds the certificates to the context's X509 store;
    // OpenSSL locks that store itself, so connections being set up meanwhile see
    // it before or after, never torn. The caller holds TRUSTED's lock, so no two
    // of these calls run at once, and each file is added once.
    unsafe { git2::opts::set_ssl_cert_file(ca_file) }
}

/// The one place that calls into libgit2's time-out options.
#[allow(unsafe_code)]
fn set_libgit2_timeouts(ms: i32) {
    // SAFETY: the two setters write plain C globals without synchronisation, which
    // is unsound only if another thread reads or writes them at the same time.
    // libgit2 reads them only in its network streams (connect, and each socket read
    // and write of an http(s) or ssh fetch or push); local-path remotes never touch
    // them. This runs exactly once per process, inside `OnceLock::get_or_init` from
    // `ResourceRepo::open`, and every network fetch or push of Slipway goes through
    // a `ResourceRepo`, whose `open` returned only after `get_or_init` finished: the
    // write happens-before every read, and no second write exists.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms);
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms);
    }
}
