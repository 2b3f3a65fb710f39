//! Commit-and-push with optimistic retry.
//!
//! Writers build each commit on the freshly fetched head and push it without
//! force; when someone else pushed first, they fetch again and re-apply their
//! change. The retries go through `backon` with the repo's sleeper (a real sleep
//! but in tests), bounded by [`MIN_PUSH_ATTEMPTS`] / [`MAX_PUSH_TIME`], and by
//! [`MAX_STUCK_TIME`] while the branch does not move at all.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BlockingRetryable as _;
use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature};
use slipway_core::model::RepoSnapshot;

use crate::auth::callbacks;
use crate::{CommitError, CommitId, GitError, ResourceRepo};

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

/// A writer whose pushes are rejected because others keep pushing first goes on
/// for this many attempts or this much time, whichever comes last: under heavy
/// contention a slow writer needs more tries, not fewer.
pub(crate) const MIN_PUSH_ATTEMPTS: usize = 50;
pub(crate) const MAX_PUSH_TIME: Duration = Duration::from_secs(120);
/// Rejections while the branch does not move at all (a stale lock on the server,
/// a protected branch) end sooner: retrying will not help.
pub(crate) const MAX_STUCK_TIME: Duration = Duration::from_secs(5);

/// How the push loop waits between attempts.
pub(crate) type Sleeper = Arc<dyn Fn(Duration) + Send + Sync>;

/// How one attempt of the push loop ended, when it did not push.
enum Attempt {
    /// The remote refused to move the branch ([`Rejection`] kept aside): try again.
    Rejected,
    /// The attempt and time bounds are spent.
    GaveUp,
    /// A failure retrying will not cure.
    Failed(GitError),
}

/// One change of a group commit ([`ResourceRepo::commit_and_push_all`]).
pub struct BatchItem<F> {
    /// Author of its commit.
    pub author: Author,
    /// Sees the repo as the items before left it; the change to make, `None` for
    /// nothing to do, or why it is refused.
    pub make_change: F,
}

/// What became of one item of a group commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Its commit, pushed.
    Made(CommitId),
    /// Nothing to do: the repo already had it at `head` (the commit its change was asked on).
    Unchanged { head: String },
}

/// The waits between push attempts: exponential backoff with full jitter
/// (capped at 250 ms), so that writers that keep colliding spread out instead of
/// retrying in lockstep. Endless: the push loop itself knows when to stop.
#[derive(Debug, Default)]
pub(crate) struct PushBackoff {
    /// The attempt that just failed (1-based).
    attempt: usize,
}

impl Iterator for PushBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        use rand::Rng as _;
        self.attempt += 1;
        let cap_ms = (5u64 << self.attempt.min(6)).min(250);
        Some(Duration::from_millis(rand::thread_rng().gen_range(0..=cap_ms)))
    }
}

impl ResourceRepo {
    /// Builds a change on the freshly fetched head and pushes it, without force.
    ///
    /// `make_change` sees the current head and returns the change to make, or
    /// `None` when there is nothing to do. When another writer pushed first, the
    /// repo is fetched again and `make_change` is asked again on the new head, so
    /// a change always reflects what it is applied to. Returns the pushed commit,
    /// or `None` when there was nothing to commit.
    pub fn commit_and_push<F, E>(&self, author: &Author, make_change: F) -> Result<Option<CommitId>, CommitError<E>>
    where
        F: FnMut(&RepoSnapshot) -> Result<Option<Change>, E>,
    {
        let mut items = [BatchItem {
            author: author.clone(),
            make_change,
        }];
        let mut outcomes = self.commit_and_push_all(&mut items).map_err(CommitError::Git)?;
        match outcomes.pop() {
            Some(Ok(Committed::Made(commit))) => Ok(Some(commit)),
            Some(Ok(Committed::Unchanged { .. })) | None => Ok(None),
            Some(Err(e)) => Err(CommitError::Change(e)),
        }
    }

    /// Group commit: builds one commit per item, each on the one before (the
    /// first on the freshly fetched head), and pushes them all at once, without
    /// force. Each item's `make_change` sees the repo with the changes of the
    /// items before it; an item that refuses (`Err`) or has nothing to do is
    /// skipped and the others still go. When another writer pushed first, every
    /// item is asked again on the new head. The outcome of each item, in order,
    /// once the push that carries them succeeded; a git failure fails them all
    /// (nothing of them was pushed, or the caller cannot know: a time-out).
    pub fn commit_and_push_all<F, E>(&self, items: &mut [BatchItem<F>]) -> Result<Vec<Result<Committed, E>>, GitError>
    where
        F: FnMut(&RepoSnapshot) -> Result<Option<Change>, E>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        let mut last_head = None;
        let mut head_moved_at = started;
        let mut last_rejection = Rejection::Moved;
        // Where the time of the whole call went, summed over its attempts (debug log).
        let (mut fetching, mut building, mut pushing) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut once = || -> Result<Vec<Result<Committed, E>>, Attempt> {
            let within_bounds = head_moved_at.elapsed() < MAX_STUCK_TIME
                && (attempt < MIN_PUSH_ATTEMPTS || started.elapsed() < MAX_PUSH_TIME);
            if !within_bounds {
                return Err(Attempt::GaveUp);
            }
            let git = Attempt::Failed;
            attempt += 1;
            let step = Instant::now();
            let head = self.fetch().map_err(git)?;
            fetching += step.elapsed();
            let step = Instant::now();
            if head != last_head {
                head_moved_at = Instant::now();
                last_head = head;
            }
            let head = head.map(CommitId::oid);
            let mut tip = head;
            let mut snapshot = self.head_snapshot().map_err(git)?;
            let mut outcomes = Vec::with_capacity(items.len());
            for item in items.iter_mut() {
                let change = match (item.make_change)(&snapshot) {
                    Ok(Some(change)) => change,
                    Ok(None) => {
                        outcomes.push(Ok(Committed::Unchanged {
                            head: snapshot.commit.clone(),
                        }));
                        continue;
                    }
                    Err(e) => {
                        outcomes.push(Err(e));
                        continue;
                    }
                };
                match self.build_commit(tip, &item.author, &change).map_err(git)? {
                    Some(commit) => {
                        tip = Some(commit);
                        // The next item sees this one's change: the files just written, in
                        // memory, instead of reading the whole tree of the new commit back.
                        snapshot =
                            Arc::new(snapshot.with_change(CommitId::from_oid(commit).to_string(), &change.files));
                        outcomes.push(Ok(Committed::Made(CommitId::from_oid(commit))));
                    }
                    None => outcomes.push(Ok(Committed::Unchanged {
                        head: snapshot.commit.clone(),
                    })),
                }
            }
            building += step.elapsed();
            let Some(commit) = tip.filter(|t| Some(*t) != head) else {
                return Ok(outcomes);
            };
            let step = Instant::now();
            let pushed = self.push(commit, head);
            pushing += step.elapsed();
            match pushed {
                Ok(()) => {
                    // Keep the tracking ref current so readers see our own write at once.
                    let _ = self
                        .repo
                        .reference(&self.tracking_ref(), commit, true, "slipway: pushed");
                    Ok(outcomes)
                }
                Err(PushError::Rejected(why)) => {
                    tracing::debug!(attempt, ?why, "push rejected, fetching and retrying");
                    last_rejection = why;
                    Err(Attempt::Rejected)
                }
                Err(PushError::Git(e)) => Err(git(e)),
            }
        };
        let sleeper = self.push_sleeper.clone();
        let outcome = (&mut once)
            .retry(PushBackoff::default())
            // Spread out writers that keep colliding.
            .sleep(move |wait| sleeper(wait))
            .when(|e| matches!(e, Attempt::Rejected))
            .call();
        tracing::debug!(
            items = items.len(),
            attempts = attempt,
            total_ms = started.elapsed().as_millis() as u64,
            fetch_ms = fetching.as_millis() as u64,
            build_ms = building.as_millis() as u64,
            push_ms = pushing.as_millis() as u64,
            "commit and push"
        );
        match outcome {
            Ok(outcomes) => Ok(outcomes),
            Err(Attempt::Failed(e)) => Err(e),
            // A lock held by a concurrent push lasts milliseconds; one that outlasts the
            // stuck bound is left over, and retrying will not help.
            Err(Attempt::GaveUp | Attempt::Rejected) => Err(match last_rejection {
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
            }),
        }
    }

    pub(crate) fn build_commit(
        &self,
        head: Option<Oid>,
        author: &Author,
        change: &Change,
    ) -> Result<Option<Oid>, GitError> {
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
            let name = format!("refs/heads/{}", self.location.branch);
            return self.push_local(&path, &name, commit, expected_head);
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
        let (mut cb, refusals) = callbacks(&self.location.auth, &self.location.url);
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
            Err(e) => return Err(PushError::Git(self.remote_err("push", &refusals)(e))),
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
            Some(msg) => Err(PushError::Git(GitError::failed(
                "push",
                &self.location.url,
                &format!("remote rejected the update: {msg}"),
            ))),
        }
    }

    /// Pushes to a repository on this machine: copies the new objects, then moves the
    /// ref `name` only if it still points where the change was built (compare-and-swap
    /// under the ref lock), which makes concurrent writers safe.
    pub(crate) fn push_local(
        &self,
        path: &Path,
        name: &str,
        commit: Oid,
        expected_head: Option<Oid>,
    ) -> Result<(), PushError> {
        let git = |e| PushError::Git(self.err("push")(e));
        let target = Repository::open(path).map_err(git)?;
        self.copy_objects(&target, commit).map_err(PushError::Git)?;
        let result = match expected_head {
            Some(old) => target.reference_matching(name, commit, true, old, "slipway: push"),
            None => target.reference(name, commit, false, "slipway: push"),
        };
        match result {
            Ok(_) => {
                // A repo created empty may still point HEAD at another branch name.
                if expected_head.is_none() && name.starts_with("refs/heads/") {
                    let _ = target.set_head(name);
                }
                Ok(())
            }
            Err(e) if e.code() == git2::ErrorCode::Locked => Err(PushError::Rejected(Rejection::Locked {
                lock_file: target.path().join(format!("{name}.lock")).display().to_string(),
                reference: name.to_string(),
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

    /// Copies `commit` and everything it reaches that `target` lacks into `target`.
    pub(crate) fn copy_objects(&self, target: &Repository, commit: Oid) -> Result<(), GitError> {
        let git = self.err("push");
        let src_odb = self.repo.odb().map_err(&git)?;
        let dst_odb = target.odb().map_err(&git)?;
        // Objects are written children first, so an object that exists in the
        // target always has everything it points to: a concurrent reader (or a
        // writer that skips what exists) never meets a half-copied closure.
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        let mut pending = vec![commit];
        while let Some(oid) = pending.pop() {
            if !seen.insert(oid) || dst_odb.exists(oid) {
                continue;
            }
            let obj = src_odb.read(oid).map_err(&git)?;
            match obj.kind() {
                git2::ObjectType::Commit => {
                    let c = self.repo.find_commit(oid).map_err(&git)?;
                    pending.push(c.tree_id());
                    pending.extend(c.parent_ids());
                }
                git2::ObjectType::Tree => {
                    let t = self.repo.find_tree(oid).map_err(&git)?;
                    pending.extend(t.iter().map(|e| e.id()));
                }
                _ => {}
            }
            missing.push(obj);
        }
        // Every object was found after the object pointing to it.
        for obj in missing.iter().rev() {
            dst_odb.write(obj.kind(), obj.data()).map_err(&git)?;
        }
        Ok(())
    }
}

pub(crate) enum PushError {
    Rejected(Rejection),
    Git(GitError),
}

/// Why the remote refused to move the branch.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// Someone else pushed first.
    Moved,
    /// The branch ref is locked on the remote.
    Locked {
        reference: String,
        lock_file: String,
        detail: String,
    },
}

pub(crate) fn is_rejection(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        git2::ErrorCode::NotFastForward | git2::ErrorCode::Locked | git2::ErrorCode::Modified
    ) || e.message().contains("fast-forward")
        || e.message().contains("fastforward")
}

pub(crate) fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") || url.contains('@') && url.contains(':') {
        return None;
    }
    Some(PathBuf::from(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_waits_are_full_jitter_under_a_cap_that_doubles_up_to_250_ms() {
        let caps_ms = [10, 20, 40, 80, 160, 250, 250, 250];
        for _ in 0..200 {
            let waits: Vec<Duration> = PushBackoff::default().take(caps_ms.len()).collect();
            for (attempt, (wait, cap)) in waits.iter().zip(caps_ms).enumerate() {
                assert!(
                    *wait <= Duration::from_millis(cap),
                    "wait after attempt {}: {wait:?} > {cap} ms",
                    attempt + 1
                );
            }
        }
        // Full jitter: waits spread over the whole range, not just near the cap.
        let late: Vec<Duration> = PushBackoff { attempt: 10 }.take(200).collect();
        assert!(late.iter().any(|w| *w < Duration::from_millis(125)), "{late:?}");
        assert!(late.iter().any(|w| *w >= Duration::from_millis(125)), "{late:?}");
    }
}
