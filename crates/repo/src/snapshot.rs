//! Reading a commit of the resource repo into a [`RepoSnapshot`], without a
//! work tree. The last snapshot read is kept with the tree id of each of its
//! folders, so the next one copies the folders a commit left alone instead of
//! reading every blob again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use git2::Oid;
use slipway_core::model::{Files, RepoSnapshot};

use crate::{CommitId, GitError, ResourceRepo};

/// A snapshot and the tree id of each of its folders (`"dev/"` → id).
type SnapshotWithTrees = (Arc<RepoSnapshot>, HashMap<String, Oid>);

/// The last snapshot a handle read.
pub(crate) type SnapshotCache = Mutex<Option<SnapshotWithTrees>>;

impl ResourceRepo {
    /// Every file of the repo at `commit`, without a work tree. Cached for the last commit read.
    pub fn snapshot(&self, commit: CommitId) -> Result<Arc<RepoSnapshot>, GitError> {
        let id = commit.to_string();
        let previous = self.snapshot_cache.lock().ok().and_then(|c| c.clone());
        if let Some((s, _)) = previous.as_ref().filter(|(s, _)| s.commit == id) {
            return Ok(s.clone());
        }
        let tree = self
            .repo
            .find_commit(commit.oid())
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
    pub fn read_file(&self, commit: CommitId, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self
            .repo
            .find_commit(commit.oid())
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
}
