//! Branches besides the main one (a promotion branch for a pull request):
//! fetch one, force-push a commit to one, delete one. The main branch is only
//! ever moved by [`ResourceRepo::commit_and_push`], never by these.

use git2::{Direction, Oid, Repository};

use crate::auth::callbacks;
use crate::push::{local_path, Author, Change};
use crate::{CommitId, GitError, ResourceRepo};

impl ResourceRepo {
    fn branch_tracking_ref(name: &str) -> String {
        format!("refs/remotes/origin/{name}")
    }

    /// Fetches branch `name` of the remote; `None` when the remote has no such
    /// branch (then the local copy of it is forgotten too).
    pub fn fetch_branch(&self, name: &str) -> Result<Option<CommitId>, GitError> {
        self.clear_stale_locks();
        let reference = format!("refs/heads/{name}");
        let tracking = Self::branch_tracking_ref(name);
        let mut remote = self.repo.find_remote("origin").map_err(self.err("fetch"))?;
        let (cb, refusals) = callbacks(&self.location.auth, &self.location.url);
        remote
            .connect_auth(Direction::Fetch, Some(cb), None)
            .map_err(self.remote_err("fetch", &refusals))?;
        let exists = remote
            .list()
            .map_err(self.err("fetch"))?
            .iter()
            .any(|head| head.name() == reference);
        let _ = remote.disconnect();
        if !exists {
            if let Ok(mut r) = self.repo.find_reference(&tracking) {
                let _ = r.delete();
            }
            return Ok(None);
        }
        let mut opts = git2::FetchOptions::new();
        let (cb, refusals) = callbacks(&self.location.auth, &self.location.url);
        opts.remote_callbacks(cb);
        let refspec = format!("+{reference}:{tracking}");
        remote
            .fetch(&[refspec.as_str()], Some(&mut opts), None)
            .map_err(self.remote_err("fetch", &refusals))?;
        Ok(self.repo.refname_to_id(&tracking).ok().map(CommitId::from_oid))
    }

    /// Commits `change` on top of `base` and force-pushes it to branch `name`,
    /// creating or replacing that branch. Returns the pushed commit.
    pub fn push_branch(
        &self,
        name: &str,
        base: CommitId,
        author: &Author,
        change: &Change,
    ) -> Result<CommitId, GitError> {
        if name == self.location.branch {
            return Err(GitError::failed(
                "push",
                &self.location.url,
                &format!("refusing to force-push the main branch {name}"),
            ));
        }
        self.clear_stale_locks();
        let commit = match self.build_commit(Some(base.oid()), author, change)? {
            Some(commit) => commit,
            // Nothing differs from `base`: the branch is `base` itself.
            None => base.oid(),
        };
        let reference = format!("refs/heads/{name}");
        match local_path(&self.location.url) {
            Some(path) => {
                let git = self.err("push");
                let target = Repository::open(&path).map_err(&git)?;
                self.copy_objects(&target, commit)?;
                target
                    .reference(&reference, commit, true, "slipway: promotion branch")
                    .map_err(git)?;
            }
            None => self.push_refspec(&format!("+{}:{reference}", self.stage(name, commit)?))?,
        }
        let _ = self
            .repo
            .reference(&Self::branch_tracking_ref(name), commit, true, "slipway: pushed branch");
        Ok(CommitId::from_oid(commit))
    }

    /// Deletes branch `name` on the remote; nothing happens when there is none.
    pub fn delete_branch(&self, name: &str) -> Result<(), GitError> {
        if name == self.location.branch {
            return Err(GitError::failed(
                "push",
                &self.location.url,
                &format!("refusing to delete the main branch {name}"),
            ));
        }
        let reference = format!("refs/heads/{name}");
        match local_path(&self.location.url) {
            Some(path) => {
                let target = Repository::open(&path).map_err(self.err("push"))?;
                let found = target.find_reference(&reference);
                if let Ok(mut r) = found {
                    r.delete().map_err(self.err("push"))?;
                }
            }
            None => {
                if self.fetch_branch(name)?.is_some() {
                    self.push_refspec(&format!(":{reference}"))?;
                }
            }
        }
        if let Ok(mut r) = self.repo.find_reference(&Self::branch_tracking_ref(name)) {
            let _ = r.delete();
        }
        Ok(())
    }

    /// A local ref holding `commit`, to push from.
    fn stage(&self, name: &str, commit: Oid) -> Result<String, GitError> {
        let local = format!("refs/slipway/branch/{name}");
        self.repo
            .reference(&local, commit, true, "slipway: about to push a branch")
            .map_err(self.err("push"))?;
        Ok(local)
    }

    fn push_refspec(&self, spec: &str) -> Result<(), GitError> {
        let mut remote = self.repo.find_remote("origin").map_err(self.err("push"))?;
        let mut opts = git2::PushOptions::new();
        let refused: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
        let seen = refused.clone();
        let (mut cb, refusals) = callbacks(&self.location.auth, &self.location.url);
        cb.push_update_reference(move |_refname, status| {
            if let (Some(msg), Ok(mut r)) = (status, seen.lock()) {
                *r = Some(msg.to_string());
            }
            Ok(())
        });
        opts.remote_callbacks(cb);
        remote
            .push(&[spec], Some(&mut opts))
            .map_err(self.remote_err("push", &refusals))?;
        match refused.lock().ok().and_then(|r| r.clone()) {
            None => Ok(()),
            Some(msg) => Err(GitError::failed(
                "push",
                &self.location.url,
                &format!("remote rejected {spec}: {msg}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr as _;

    use super::*;
    use crate::RepoLocation;

    fn bare_with_one_commit(dir: &std::path::Path) -> (std::path::PathBuf, ResourceRepo) {
        let remote = dir.join("remote.git");
        Repository::init_bare(&remote).unwrap();
        let repo = ResourceRepo::open(RepoLocation {
            url: remote.display().to_string(),
            checkout_path: dir.join("checkout"),
            branch: "main".into(),
            auth: Default::default(),
            timeout: crate::DEFAULT_GIT_TIMEOUT,
            stale_lock_after: crate::DEFAULT_STALE_LOCK_AFTER,
        })
        .unwrap();
        let files: BTreeMap<String, Option<Vec<u8>>> =
            [("prod/version/s1.yaml".to_string(), Some(b"version: '1'\n".to_vec()))].into();
        repo.commit_and_push(&Author::named("fixture"), |_| {
            Ok::<_, GitError>(Some(Change {
                message: "setup".into(),
                files: files.clone(),
            }))
        })
        .unwrap();
        (remote, repo)
    }

    #[test]
    fn a_branch_is_pushed_fetched_replaced_and_deleted_without_moving_main() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, repo) = bare_with_one_commit(dir.path());
        let main = repo.fetch().unwrap().unwrap();
        assert_eq!(repo.fetch_branch("slipway/promote/prod").unwrap(), None);

        let change = |v: &str| Change {
            message: format!("Promote s1 {v}"),
            files: [(
                "prod/version/s1.yaml".to_string(),
                Some(format!("version: '{v}'\n").into_bytes()),
            )]
            .into(),
        };
        let first = repo
            .push_branch("slipway/promote/prod", main, &Author::named("t"), &change("2"))
            .unwrap();
        let fetched = repo.fetch_branch("slipway/promote/prod").unwrap().unwrap();
        assert_eq!(fetched, first);
        assert_eq!(
            repo.read_file(fetched, "prod/version/s1.yaml").unwrap().unwrap(),
            b"version: '2'\n"
        );
        // Replaced (force) by a commit on the same base.
        let second = repo
            .push_branch("slipway/promote/prod", main, &Author::named("t"), &change("3"))
            .unwrap();
        assert_ne!(first, second);
        assert_eq!(repo.fetch_branch("slipway/promote/prod").unwrap(), Some(second));
        assert_eq!(repo.fetch().unwrap(), Some(main), "main did not move");

        repo.delete_branch("slipway/promote/prod").unwrap();
        assert_eq!(repo.fetch_branch("slipway/promote/prod").unwrap(), None);
        let remote = Repository::open(&remote).unwrap();
        assert!(remote.find_reference("refs/heads/slipway/promote/prod").is_err());
        assert!(repo
            .push_branch("main", main, &Author::named("t"), &change("4"))
            .is_err());
        assert!(CommitId::from_str(&main.to_string()).is_ok());
    }
}
