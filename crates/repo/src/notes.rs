//! Git notes of the resource repo: notes on commits kept under their own ref
//! (such as [`slipway_core::deploy_outcome::DEPLOY_NOTES_REF`]), fetched and
//! pushed beside the branch. Writing a note never moves the branch head, so it
//! triggers no reconcile and no promotion.
//!
//! Writers add notes like commits: on the freshly fetched notes ref, pushed
//! without force; when another writer pushed first, they fetch again and add
//! their notes on top, so concurrent writers lose none.

use std::sync::{Arc, Mutex};

use backon::BlockingRetryable as _;
use git2::{Oid, Signature};

use crate::auth::callbacks;
use crate::push::{is_rejection, local_path, PushBackoff, PushError, Rejection};
use crate::{Author, CommitId, GitError, ResourceRepo};

/// How many times adding notes is tried while other writers keep pushing first.
const NOTE_ATTEMPTS: usize = 50;

/// The local copy of a remote notes ref: `refs/notes/x/y` → `refs/slipway/remote-notes/x/y`.
fn tracking(notes_ref: &str) -> String {
    format!(
        "refs/slipway/remote-notes/{}",
        notes_ref.trim_start_matches("refs/notes/")
    )
}

/// Where notes are built before they are pushed.
fn work(notes_ref: &str) -> String {
    format!(
        "refs/slipway/notes-work/{}",
        notes_ref.trim_start_matches("refs/notes/")
    )
}

enum NoteAttempt {
    Rejected,
    Failed(GitError),
}

impl ResourceRepo {
    /// Fetches the notes ref `notes_ref` (a remote without it has no notes yet).
    pub fn fetch_notes(&self, notes_ref: &str) -> Result<(), GitError> {
        if let Some(e) = self.timed_out_while_waiting("fetch") {
            return Err(e);
        }
        self.clear_stale_locks();
        let mut remote = self.repo.find_remote("origin").map_err(self.err("fetch notes"))?;
        let mut opts = git2::FetchOptions::new();
        let (cb, refusals) = callbacks(&self.location.auth, &self.location.url);
        opts.remote_callbacks(cb);
        let refspec = format!("+{notes_ref}:{}", tracking(notes_ref));
        remote
            .fetch(&[refspec.as_str()], Some(&mut opts), None)
            .map_err(self.remote_err("fetch notes", &refusals))
    }

    /// Every note under `notes_ref` as last fetched: `(annotated commit, text)`.
    pub fn notes(&self, notes_ref: &str) -> Result<Vec<(String, String)>, GitError> {
        let local = tracking(notes_ref);
        if self.repo.refname_to_id(&local).is_err() {
            return Ok(Vec::new());
        }
        let iter = self.repo.notes(Some(&local)).map_err(self.err("read notes"))?;
        let mut out = Vec::new();
        for item in iter {
            let (_, annotated) = item.map_err(self.err("read notes"))?;
            let note = self
                .repo
                .find_note(Some(&local), annotated)
                .map_err(self.err("read notes"))?;
            out.push((annotated.to_string(), note.message().unwrap_or_default().to_string()));
        }
        Ok(out)
    }

    /// Adds notes under `notes_ref` and pushes them. For each `(commit, addition)`,
    /// `merge(existing text, addition)` gives the note's new text, or `None` when
    /// the note already holds it. Commits this checkout does not have are left
    /// out. Returns how many notes changed (0: nothing to push).
    pub fn add_notes(
        &self,
        author: &Author,
        notes_ref: &str,
        additions: &[(CommitId, String)],
        merge: impl Fn(Option<&str>, &str) -> Option<String>,
    ) -> Result<usize, GitError> {
        let (local, work) = (tracking(notes_ref), work(notes_ref));
        let mut attempts = 0;
        let once = || -> Result<usize, NoteAttempt> {
            let git = NoteAttempt::Failed;
            attempts += 1;
            if attempts > NOTE_ATTEMPTS {
                return Err(git(GitError::TooManyRetries {
                    url: self.location.url.clone(),
                    attempts: attempts - 1,
                }));
            }
            self.fetch_notes(notes_ref).map_err(git)?;
            let base = self.repo.refname_to_id(&local).ok();
            match base {
                Some(base) => {
                    self.repo
                        .reference(&work, base, true, "slipway: notes base")
                        .map_err(|e| git(self.err("write notes")(e)))?;
                }
                None => {
                    if let Ok(mut r) = self.repo.find_reference(&work) {
                        r.delete().map_err(|e| git(self.err("write notes")(e)))?;
                    }
                }
            }
            let sig = Signature::now(&author.name, &author.email).map_err(|e| git(self.err("sign notes")(e)))?;
            let mut changed = 0;
            for (commit, addition) in additions {
                if self.repo.find_commit(commit.oid()).is_err() {
                    continue;
                }
                let existing = self.repo.find_note(Some(&work), commit.oid()).ok();
                let existing = existing.as_ref().and_then(|n| n.message().ok());
                let Some(text) = merge(existing, addition) else {
                    continue;
                };
                self.repo
                    .note(&sig, &sig, Some(&work), commit.oid(), &text, true)
                    .map_err(|e| git(self.err("write notes")(e)))?;
                changed += 1;
            }
            if changed == 0 {
                return Ok(0);
            }
            let new = self
                .repo
                .refname_to_id(&work)
                .map_err(|e| git(self.err("write notes")(e)))?;
            match self.push_notes(notes_ref, &work, new, base) {
                Ok(()) => {
                    // Readers of this checkout see the new notes at once.
                    let _ = self.repo.reference(&local, new, true, "slipway: notes pushed");
                    Ok(changed)
                }
                Err(PushError::Rejected(why)) => {
                    tracing::debug!(attempts, ?why, "notes push rejected, fetching and retrying");
                    Err(NoteAttempt::Rejected)
                }
                Err(PushError::Git(e)) => Err(git(e)),
            }
        };
        let sleeper = self.push_sleeper.clone();
        once.retry(PushBackoff::default())
            .sleep(move |wait| sleeper(wait))
            .when(|e| matches!(e, NoteAttempt::Rejected))
            .call()
            .map_err(|e| match e {
                NoteAttempt::Failed(e) => e,
                NoteAttempt::Rejected => GitError::TooManyRetries {
                    url: self.location.url.clone(),
                    attempts: NOTE_ATTEMPTS,
                },
            })
    }

    fn push_notes(&self, notes_ref: &str, work: &str, new: Oid, base: Option<Oid>) -> Result<(), PushError> {
        if let Some(path) = local_path(&self.location.url) {
            return self.push_local(&path, notes_ref, new, base);
        }
        let git = |e| PushError::Git(self.err("push notes")(e));
        let mut remote = self.repo.find_remote("origin").map_err(git)?;
        let rejected: Arc<Mutex<Option<String>>> = Arc::default();
        let seen = rejected.clone();
        let (mut cb, refusals) = callbacks(&self.location.auth, &self.location.url);
        cb.push_update_reference(move |_refname, status| {
            if let (Some(msg), Ok(mut r)) = (status, seen.lock()) {
                *r = Some(msg.to_string());
            }
            Ok(())
        });
        let mut opts = git2::PushOptions::new();
        opts.remote_callbacks(cb);
        // Without `+`: a notes ref that moved meanwhile is refused, never overwritten.
        let spec = format!("{work}:{notes_ref}");
        match remote.push(&[spec.as_str()], Some(&mut opts)) {
            Ok(()) => {}
            Err(e) if is_rejection(&e) => return Err(PushError::Rejected(Rejection::Moved)),
            Err(e) => return Err(PushError::Git(self.remote_err("push notes", &refusals)(e))),
        }
        match rejected.lock().ok().and_then(|r| r.clone()) {
            None => Ok(()),
            Some(msg) if msg.contains("fast-forward") || msg.contains("fetch first") || msg.contains("stale") => {
                Err(PushError::Rejected(Rejection::Moved))
            }
            Some(msg) => Err(PushError::Git(GitError::failed(
                "push notes",
                &self.location.url,
                &format!("remote rejected the update: {msg}"),
            ))),
        }
    }
}
