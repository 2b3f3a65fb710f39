//! The resource repo through git2: clone/open, fetch, read at a commit, history,
//! and commit-and-push with optimistic retry.
//!
//! The checkout is a bare repository: nothing here ever touches a work tree, so
//! readers see exactly the commit they ask for. Writers build each commit on the
//! freshly fetched head and push it without force; when someone else pushed
//! first, they fetch again and re-apply their change.
//!
//! Every call blocks: async callers run it in `spawn_blocking`. Every network
//! call is bounded by `git_timeout` (connect, and each read and write), and lock
//! files a killed process left in the checkout are cleared ([`crate::checkout_locks`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::checkout_locks;
use crate::duration::format_duration;
use crate::model::{Files, RepoSnapshot};

/// Default of `git_timeout`: how long a fetch or push may wait to connect, or for
/// each answer of the remote.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `git_stale_lock_after`: a lock file in the checkout older than this
/// is left over from a killed process (git holds one for milliseconds).
pub const DEFAULT_STALE_LOCK_AFTER: Duration = Duration::from_secs(120);

/// How a service reaches the resource repo. Credentials come from here or the
/// environment, never from the repo itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitAuth {
    /// User name for https (default `x-access-token`) or ssh (default from the URL, else `git`).
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding an https token (default `SLIPWAY_GIT_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding an https token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Private key for ssh URLs (default: the ssh agent).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
}

impl GitAuth {
    fn token(&self) -> Option<String> {
        if let Some(file) = &self.token_file {
            if let Ok(t) = std::fs::read_to_string(file) {
                return Some(t.trim().to_string());
            }
        }
        let var = self.token_env.as_deref().unwrap_or("SLIPWAY_GIT_TOKEN");
        std::env::var(var).ok().filter(|t| !t.is_empty())
    }
}

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

/// Failures of repo access.
#[derive(Debug, Error)]
pub enum GitError {
    #[error("git {action} failed for {url}: {source}")]
    Git {
        action: &'static str,
        url: String,
        #[source]
        source: git2::Error,
    },
    #[error("cannot prepare checkout at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("push to {url} still rejected after {attempts} attempts, because others kept pushing first; nothing was lost, try again")]
    TooManyRetries { url: String, attempts: usize },
    /// The remote did not answer in time; the caller cannot know whether a push arrived.
    #[error("git {action} of {url} got no answer within {} (git_timeout): {source}", format_duration(*timeout))]
    Timeout {
        action: &'static str,
        url: String,
        timeout: Duration,
        #[source]
        source: git2::Error,
    },
    /// The branch stayed locked on the remote: a crashed git process there, not contention.
    #[error("push to {url} refused: the ref {reference} is locked on the remote and stayed locked for {}s ({detail}); nothing was committed. If no git process is running there, the lock is left over from a crash: delete {lock_file} and try again", MAX_STUCK_TIME.as_secs())]
    RemoteLocked {
        url: String,
        /// The locked ref, e.g. `refs/heads/main`.
        reference: String,
        /// Where the lock file is: a path for a repo on this machine, else its place in the remote repo.
        lock_file: String,
        /// What git said.
        detail: String,
    },
    #[error("{0}")]
    Change(String),
}

/// The author of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// An author with a made-up address for service accounts and API token names.
    pub fn named(name: &str) -> Self {
        let local: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Author {
            name: name.to_string(),
            email: format!("{local}@slipway.invalid"),
        }
    }
}

/// A change to commit: the message and the files to write (`Some`) or delete (`None`).
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub message: String,
    pub files: BTreeMap<String, Option<Vec<u8>>>,
}

/// One commit, as history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
    pub message: String,
    pub parents: Vec<String>,
}

/// A snapshot and the tree id of each of its folders.
type SnapshotWithTrees = (Arc<RepoSnapshot>, HashMap<String, Oid>);

/// The local copy of the resource repo.
pub struct ResourceRepo {
    repo: Repository,
    location: RepoLocation,
    /// The last snapshot read, with the tree id of each of its folders
    /// (`"dev/"` → id), so the next one copies the folders a commit left alone.
    snapshot_cache: Mutex<Option<SnapshotWithTrees>>,
    /// When the last network call timed out, and what git said.
    last_timeout: Mutex<Option<(Instant, String)>>,
    /// When the caller of the current call began to wait for the repo (see [`ResourceRepo::waited_since`]).
    waited_since: Mutex<Option<Instant>>,
}

/// A writer whose pushes are rejected because others keep pushing first goes on
/// for this many attempts or this much time, whichever comes last: under heavy
/// contention a slow writer needs more tries, not fewer.
const MIN_PUSH_ATTEMPTS: usize = 50;
const MAX_PUSH_TIME: Duration = Duration::from_secs(120);
/// Rejections while the branch does not move at all (a stale lock on the server,
/// a protected branch) end sooner: retrying will not help.
const MAX_STUCK_TIME: Duration = Duration::from_secs(5);

impl ResourceRepo {
    /// Opens the local copy at `checkout_path`, creating it (bare) if needed, and
    /// points its `origin` at `url`. Does not fetch.
    ///
    /// The checkout belongs to this process alone and nothing of it runs yet, so
    /// every lock file in it is left over from a killed process and is removed.
    pub fn open(location: RepoLocation) -> Result<Self, GitError> {
        bound_network_calls(location.timeout);
        let path = &location.checkout_path;
        for lock in checkout_locks::clear_all(path) {
            tracing::warn!(path = %lock.display(), "removed a git lock file left in the checkout by an earlier crash");
        }
        let url = location.url.clone();
        let git = |action: &'static str| {
            let url = url.clone();
            move |source| GitError::Git { action, url, source }
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
            snapshot_cache: Mutex::new(None),
            last_timeout: Mutex::new(None),
            waited_since: Mutex::new(None),
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
            snapshot_cache: Mutex::new(None),
            last_timeout: Mutex::new(None),
            waited_since: Mutex::new(None),
        })
    }

    /// Opens and fetches once.
    pub fn open_and_fetch(location: RepoLocation) -> Result<Self, GitError> {
        let repo = Self::open(location)?;
        repo.fetch()?;
        Ok(repo)
    }

    /// The repo URL.
    pub fn url(&self) -> &str {
        &self.location.url
    }

    fn err(&self, action: &'static str) -> impl Fn(git2::Error) -> GitError + '_ {
        move |source| {
            let url = self.location.url.clone();
            // libgit2 reports its socket time-outs as GIT_TIMEOUT; some transports only say so in words.
            if source.code() == git2::ErrorCode::Timeout || source.message().contains("timed out") {
                if let Ok(mut last) = self.last_timeout.lock() {
                    *last = Some((Instant::now(), source.message().to_string()));
                }
                GitError::Timeout {
                    action,
                    url,
                    timeout: self.location.timeout,
                    source,
                }
            } else {
                GitError::Git { action, url, source }
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
    fn timed_out_while_waiting(&self, action: &'static str) -> Option<GitError> {
        let since = self.waited_since.lock().ok()?.take()?;
        let (at, message) = self.last_timeout.lock().ok()?.clone()?;
        (at > since).then(|| GitError::Timeout {
            action,
            url: self.location.url.clone(),
            timeout: self.location.timeout,
            source: git2::Error::from_str(&format!("{message}, in the call this one waited for")),
        })
    }

    /// Removes lock files of the checkout older than `stale_lock_after`. Called with
    /// the repo held (`&self` of the one writing handle), so no operation of this
    /// process holds one: a lock that old is left over from a killed process.
    fn clear_stale_locks(&self) {
        let bound = self.location.stale_lock_after;
        for lock in checkout_locks::clear_older_than(&self.location.checkout_path, bound, SystemTime::now()) {
            tracing::warn!(
                path = %lock.display(),
                "removed a git lock file older than {} that no operation of this service holds (left by a killed process)",
                format_duration(bound)
            );
        }
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.location.branch)
    }

    fn callbacks(&self) -> git2::RemoteCallbacks<'_> {
        let mut cb = git2::RemoteCallbacks::new();
        let auth = self.location.auth.clone();
        let mut tries = 0;
        cb.credentials(move |_url, username_from_url, allowed| {
            tries += 1;
            if tries > 3 {
                return Err(git2::Error::from_str(
                    "authentication failed: check the token (SLIPWAY_GIT_TOKEN or token_file) or ssh key",
                ));
            }
            if allowed.contains(git2::CredentialType::SSH_KEY) {
                let user = auth.username.as_deref().or(username_from_url).unwrap_or("git");
                return match &auth.ssh_key {
                    Some(key) => git2::Cred::ssh_key(user, None, key, None),
                    None => git2::Cred::ssh_key_from_agent(user),
                };
            }
            if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
                if let Some(token) = auth.token() {
                    let user = auth.username.as_deref().unwrap_or("x-access-token");
                    return git2::Cred::userpass_plaintext(user, &token);
                }
            }
            git2::Cred::default()
        });
        cb
    }

    /// Fetches the branch; returns its head, `None` while the remote has no commits.
    pub fn fetch(&self) -> Result<Option<Oid>, GitError> {
        if let Some(e) = self.timed_out_while_waiting("fetch") {
            return Err(e);
        }
        self.clear_stale_locks();
        let mut remote = self.repo.find_remote("origin").map_err(self.err("fetch"))?;
        let mut opts = git2::FetchOptions::new();
        opts.remote_callbacks(self.callbacks());
        let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", self.location.branch);
        remote
            .fetch(&[refspec.as_str()], Some(&mut opts), None)
            .map_err(self.err("fetch"))?;
        Ok(self.head())
    }

    /// The last fetched head of the branch.
    pub fn head(&self) -> Option<Oid> {
        self.repo.refname_to_id(&self.tracking_ref()).ok()
    }

    /// Every file of the repo at `commit`, without a work tree. Cached for the last commit read.
    pub fn snapshot(&self, commit: Oid) -> Result<Arc<RepoSnapshot>, GitError> {
        let id = commit.to_string();
        let previous = self.snapshot_cache.lock().ok().and_then(|c| c.clone());
        if let Some((s, _)) = previous.as_ref().filter(|(s, _)| s.commit == id) {
            return Ok(s.clone());
        }
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(self.err("read commit"))?;
        let mut files = Files::new();
        let mut trees = HashMap::new();
        let mut failure = None;
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            let name = entry.name().unwrap_or_default();
            match entry.kind() {
                Some(git2::ObjectType::Tree) => {
                    let folder = format!("{dir}{name}/");
                    // A folder the commit did not touch is copied from the last snapshot.
                    if let Some((prev, prev_trees)) = &previous {
                        if prev_trees.get(&folder) == Some(&entry.id()) {
                            for (path, content) in prev.files.range(folder.clone()..) {
                                if !path.starts_with(&folder) {
                                    break;
                                }
                                files.insert(path.clone(), content.clone());
                            }
                            for (sub, tree_id) in prev_trees.iter().filter(|(sub, _)| sub.starts_with(&folder)) {
                                trees.insert(sub.clone(), *tree_id);
                            }
                            return git2::TreeWalkResult::Skip;
                        }
                    }
                    trees.insert(folder, entry.id());
                }
                Some(git2::ObjectType::Blob) => match self.repo.find_blob(entry.id()) {
                    Ok(blob) => {
                        files.insert(format!("{dir}{name}"), blob.content().into());
                    }
                    Err(e) => {
                        failure = Some(e);
                        return git2::TreeWalkResult::Abort;
                    }
                },
                _ => {}
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(self.err("read tree"))?;
        if let Some(e) = failure {
            return Err(self.err("read blob")(e));
        }
        let snap = Arc::new(RepoSnapshot { commit: id, files });
        if let Ok(mut cache) = self.snapshot_cache.lock() {
            *cache = Some((snap.clone(), trees));
        }
        Ok(snap)
    }

    /// The snapshot of the fetched head (an empty one while the repo has no commits).
    pub fn head_snapshot(&self) -> Result<Arc<RepoSnapshot>, GitError> {
        match self.head() {
            Some(head) => self.snapshot(head),
            None => Ok(Arc::new(RepoSnapshot::default())),
        }
    }

    /// One file at `commit`, `None` if it does not exist there.
    pub fn read_file(&self, commit: Oid, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(self.err("read commit"))?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(self.err("read file")(e)),
        };
        match self.repo.find_blob(entry.id()) {
            Ok(blob) => Ok(Some(blob.content().to_vec())),
            Err(_) => Ok(None), // a folder, not a file
        }
    }

    /// Resolves a full or abbreviated commit id.
    pub fn resolve_commit(&self, spec: &str) -> Result<Option<Oid>, GitError> {
        match self.repo.revparse_single(spec).and_then(|o| o.peel_to_commit()) {
            Ok(c) => Ok(Some(c.id())),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::NotFound | git2::ErrorCode::Ambiguous | git2::ErrorCode::InvalidSpec
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.class() == git2::ErrorClass::Odb || e.class() == git2::ErrorClass::Reference => Ok(None),
            Err(e) => Err(self.err("resolve commit")(e)),
        }
    }

    /// Facts about one commit.
    pub fn commit_info(&self, commit: Oid) -> Result<CommitInfo, GitError> {
        let c = self.repo.find_commit(commit).map_err(self.err("read commit"))?;
        Ok(to_info(&c))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: Oid, descendant: Oid) -> Result<bool, GitError> {
        if ancestor == descendant {
            return Ok(true);
        }
        self.repo
            .graph_descendant_of(descendant, ancestor)
            .map_err(self.err("compare commits"))
    }

    /// Commits reachable from `from` (newest first) that changed anything under
    /// `path` (a file or a folder), at most `limit`.
    pub fn history(&self, from: Oid, path: &str, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
        let mut walk = self.repo.revwalk().map_err(self.err("walk history"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(self.err("walk history"))?;
        walk.push(from).map_err(self.err("walk history"))?;
        let path = Path::new(path.trim_end_matches('/'));
        let entry_id =
            |commit: &git2::Commit<'_>| -> Option<Oid> { commit.tree().ok()?.get_path(path).ok().map(|e| e.id()) };
        let mut out = Vec::new();
        for oid in walk {
            let oid = oid.map_err(self.err("walk history"))?;
            let commit = self.repo.find_commit(oid).map_err(self.err("read commit"))?;
            let here = entry_id(&commit);
            let before = commit.parent(0).ok().and_then(|p| entry_id(&p));
            // Merge commits count only when they differ from the first parent.
            if here != before {
                out.push(to_info(&commit));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every commit reachable from `from`, newest first, at most `limit`.
    pub fn log(&self, from: Oid, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
        let mut walk = self.repo.revwalk().map_err(self.err("walk history"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(self.err("walk history"))?;
        walk.push(from).map_err(self.err("walk history"))?;
        let mut out = Vec::new();
        for oid in walk.take(limit) {
            let oid = oid.map_err(self.err("walk history"))?;
            let commit = self.repo.find_commit(oid).map_err(self.err("read commit"))?;
            out.push(to_info(&commit));
        }
        Ok(out)
    }

    /// Builds a change on the freshly fetched head and pushes it, without force.
    ///
    /// `make_change` sees the current head and returns the change to make, or
    /// `None` when there is nothing to do. When another writer pushed first, the
    /// repo is fetched again and `make_change` is asked again on the new head, so
    /// a change always reflects what it is applied to. Returns the pushed commit,
    /// or `None` when there was nothing to commit.
    pub fn commit_and_push<F, E>(&self, author: &Author, mut make_change: F) -> Result<Option<Oid>, CommitError<E>>
    where
        F: FnMut(&RepoSnapshot) -> Result<Option<Change>, E>,
    {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        let mut last_head = None;
        let mut head_moved_at = started;
        let mut last_rejection = Rejection::Moved;
        while head_moved_at.elapsed() < MAX_STUCK_TIME
            && (attempt < MIN_PUSH_ATTEMPTS || started.elapsed() < MAX_PUSH_TIME)
        {
            attempt += 1;
            let head = self.fetch().map_err(CommitError::Git)?;
            if head != last_head {
                head_moved_at = std::time::Instant::now();
                last_head = head;
            }
            let snapshot = self.head_snapshot().map_err(CommitError::Git)?;
            let Some(change) = make_change(&snapshot).map_err(CommitError::Change)? else {
                return Ok(None);
            };
            let Some(commit) = self.build_commit(head, author, &change).map_err(CommitError::Git)? else {
                return Ok(None);
            };
            match self.push(commit, head) {
                Ok(()) => {
                    // Keep the tracking ref current so readers see our own write at once.
                    let _ = self
                        .repo
                        .reference(&self.tracking_ref(), commit, true, "slipway: pushed");
                    return Ok(Some(commit));
                }
                Err(PushError::Rejected(why)) => {
                    tracing::debug!(attempt, ?why, "push rejected, fetching and retrying");
                    last_rejection = why;
                    // Spread out writers that keep colliding.
                    std::thread::sleep(backoff(attempt));
                }
                Err(PushError::Git(e)) => return Err(CommitError::Git(e)),
            }
        }
        // A lock held by a concurrent push lasts milliseconds; one that outlasts the
        // stuck bound is left over, and retrying will not help.
        Err(CommitError::Git(match last_rejection {
            Rejection::Locked {
                reference,
                lock_file,
                detail,
            } => GitError::RemoteLocked {
                url: self.location.url.clone(),
                reference,
                lock_file,
                detail,
            },
            Rejection::Moved => GitError::TooManyRetries {
                url: self.location.url.clone(),
                attempts: attempt,
            },
        }))
    }

    fn build_commit(&self, head: Option<Oid>, author: &Author, change: &Change) -> Result<Option<Oid>, GitError> {
        let repo = &self.repo;
        let parent = match head {
            Some(h) => Some(repo.find_commit(h).map_err(self.err("read head"))?),
            None => None,
        };
        let base_tree = match &parent {
            Some(p) => p.tree().map_err(self.err("read tree"))?,
            None => {
                let empty = repo
                    .treebuilder(None)
                    .and_then(|b| b.write())
                    .map_err(self.err("write tree"))?;
                repo.find_tree(empty).map_err(self.err("write tree"))?
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for (path, content) in &change.files {
            match content {
                Some(bytes) => {
                    let blob = repo.blob(bytes).map_err(self.err("write blob"))?;
                    update.upsert(path.as_str(), blob, FileMode::Blob);
                }
                None => {
                    update.remove(path.as_str());
                }
            }
        }
        let tree_id = update
            .create_updated(repo, &base_tree)
            .map_err(self.err("write tree"))?;
        if parent.is_some() && tree_id == base_tree.id() {
            return Ok(None);
        }
        let tree = repo.find_tree(tree_id).map_err(self.err("write tree"))?;
        let sig = Signature::now(&author.name, &author.email).map_err(self.err("sign commit"))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let oid = repo
            .commit(None, &sig, &sig, &change.message, &tree, &parents)
            .map_err(self.err("commit"))?;
        Ok(Some(oid))
    }

    fn push(&self, commit: Oid, expected_head: Option<Oid>) -> Result<(), PushError> {
        if let Some(e) = self.timed_out_while_waiting("push") {
            return Err(PushError::Git(e));
        }
        self.clear_stale_locks();
        if let Some(path) = local_path(&self.location.url) {
            return self.push_local(&path, commit, expected_head);
        }
        let local_ref = format!("refs/slipway/push/{}", self.location.branch);
        self.repo
            .reference(&local_ref, commit, true, "slipway: about to push")
            .map_err(|e| PushError::Git(self.err("push")(e)))?;
        let mut remote = self
            .repo
            .find_remote("origin")
            .map_err(|e| PushError::Git(self.err("push")(e)))?;
        let rejected: Arc<Mutex<Option<String>>> = Arc::default();
        let mut cb = self.callbacks();
        let rejected_cb = rejected.clone();
        cb.push_update_reference(move |_refname, status| {
            if let Some(msg) = status {
                if let Ok(mut r) = rejected_cb.lock() {
                    *r = Some(msg.to_string());
                }
            }
            Ok(())
        });
        // What the remote prints (`remote: error: cannot lock ref ...`) says why an update failed.
        let said: Arc<Mutex<String>> = Arc::default();
        let said_cb = said.clone();
        cb.sideband_progress(move |data| {
            if let Ok(mut s) = said_cb.lock() {
                s.push_str(&String::from_utf8_lossy(data));
            }
            true
        });
        let mut opts = git2::PushOptions::new();
        opts.remote_callbacks(cb);
        let reference = format!("refs/heads/{}", self.location.branch);
        let spec = format!("{local_ref}:{reference}");
        let remote_lock = |detail: String| {
            PushError::Rejected(Rejection::Locked {
                lock_file: format!("{reference}.lock in the repository on the server"),
                reference: reference.clone(),
                detail,
            })
        };
        match remote.push(&[spec.as_str()], Some(&mut opts)) {
            Ok(()) => {}
            Err(e) if e.code() == git2::ErrorCode::Locked => return Err(remote_lock(e.message().to_string())),
            Err(e) if is_rejection(&e) => return Err(PushError::Rejected(Rejection::Moved)),
            Err(e) => return Err(PushError::Git(self.err("push")(e))),
        }
        let status = rejected.lock().ok().and_then(|r| r.clone());
        let said = said.lock().map(|s| s.clone()).unwrap_or_default();
        // git receive-pack answers "failed to lock", or "failed to update ref" and prints
        // "cannot lock ref '...': Unable to create '....lock': File exists".
        let lock_line = said
            .lines()
            .map(str::trim)
            .find(|l| l.contains("cannot lock ref") || l.contains(".lock"));
        match status {
            None => Ok(()),
            Some(msg) if msg.contains("lock") || lock_line.is_some() => {
                let detail = lock_line.map(|l| format!(": {l}")).unwrap_or_default();
                Err(remote_lock(format!("the remote said: {msg}{detail}")))
            }
            Some(msg) if msg.contains("fast-forward") || msg.contains("fetch first") || msg.contains("stale") => {
                Err(PushError::Rejected(Rejection::Moved))
            }
            Some(msg) => Err(PushError::Git(GitError::Git {
                action: "push",
                url: self.location.url.clone(),
                source: git2::Error::from_str(&format!("remote rejected the update: {msg}")),
            })),
        }
    }

    /// Pushes to a repository on this machine: copies the new objects, then moves the
    /// branch only if it still points where the change was built (compare-and-swap
    /// under the ref lock), which makes concurrent writers safe.
    fn push_local(&self, path: &Path, commit: Oid, expected_head: Option<Oid>) -> Result<(), PushError> {
        let git = |e| PushError::Git(self.err("push")(e));
        let target = Repository::open(path).map_err(git)?;
        let src_odb = self.repo.odb().map_err(git)?;
        let dst_odb = target.odb().map_err(git)?;
        // Objects are written children first, so an object that exists in the
        // target always has everything it points to: a concurrent reader (or a
        // writer that skips what exists) never meets a half-copied closure.
        let mut missing = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut pending = vec![commit];
        while let Some(oid) = pending.pop() {
            if !seen.insert(oid) || dst_odb.exists(oid) {
                continue;
            }
            let obj = src_odb.read(oid).map_err(git)?;
            match obj.kind() {
                git2::ObjectType::Commit => {
                    let c = self.repo.find_commit(oid).map_err(git)?;
                    pending.push(c.tree_id());
                    pending.extend(c.parent_ids());
                }
                git2::ObjectType::Tree => {
                    let t = self.repo.find_tree(oid).map_err(git)?;
                    pending.extend(t.iter().map(|e| e.id()));
                }
                _ => {}
            }
            missing.push(obj);
        }
        // Every object was found after the object pointing to it.
        for obj in missing.iter().rev() {
            dst_odb.write(obj.kind(), obj.data()).map_err(git)?;
        }
        let name = format!("refs/heads/{}", self.location.branch);
        let result = match expected_head {
            Some(old) => target.reference_matching(&name, commit, true, old, "slipway: push"),
            None => target.reference(&name, commit, false, "slipway: push"),
        };
        match result {
            Ok(_) => {
                // A repo created empty may still point HEAD at another branch name.
                if expected_head.is_none() {
                    let _ = target.set_head(&name);
                }
                Ok(())
            }
            Err(e) if e.code() == git2::ErrorCode::Locked => Err(PushError::Rejected(Rejection::Locked {
                lock_file: target.path().join(format!("{name}.lock")).display().to_string(),
                reference: name,
                detail: e.message().to_string(),
            })),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::NotFastForward
                ) =>
            {
                Err(PushError::Rejected(Rejection::Moved))
            }
            Err(e) => Err(git(e)),
        }
    }
}

/// Why `commit_and_push` failed: git, or the caller's change function.
#[derive(Debug, Error)]
pub enum CommitError<E> {
    #[error(transparent)]
    Git(GitError),
    #[error("{0}")]
    Change(E),
}

enum PushError {
    Rejected(Rejection),
    Git(GitError),
}

/// Why the remote refused to move the branch.
#[derive(Debug)]
enum Rejection {
    /// Someone else pushed first.
    Moved,
    /// The branch ref is locked on the remote.
    Locked {
        reference: String,
        lock_file: String,
        detail: String,
    },
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

/// The one place that calls into libgit2's global options.
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

fn is_rejection(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        git2::ErrorCode::NotFastForward | git2::ErrorCode::Locked | git2::ErrorCode::Modified
    ) || e.message().contains("fast-forward")
        || e.message().contains("fastforward")
}

/// Exponential backoff with full jitter (capped at 250 ms), so that writers that keep
/// colliding spread out instead of retrying in lockstep.
fn backoff(attempt: usize) -> Duration {
    use rand::Rng as _;
    let cap_ms = (5u64 << attempt.min(6)).min(250);
    Duration::from_millis(rand::thread_rng().gen_range(0..=cap_ms))
}

fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") || url.contains('@') && url.contains(':') {
        return None;
    }
    Some(PathBuf::from(url))
}

fn to_info(c: &git2::Commit<'_>) -> CommitInfo {
    let author = c.author();
    CommitInfo {
        id: c.id().to_string(),
        author: author.name().unwrap_or_default().to_string(),
        email: author.email().unwrap_or_default().to_string(),
        time: author.when().seconds(),
        message: c.message().unwrap_or_default().to_string(),
        parents: c.parent_ids().map(|p| p.to_string()).collect(),
    }
}
