//! What the history of the resource repo says: resolving ids, ancestry, and
//! the commits that changed a path.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::path::Path;

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use slipway_core::lineage::{
    is_promotion, origin_chain, versions_between, BetweenWalk, Lineage, Origin, VersionChange,
};
use slipway_core::model::version_path;
use slipway_core::preview::{preview, PromotionPreview};
use slipway_core::transitions::Transition;
use slipway_core::RepoSnapshot;

use crate::{CommitId, GitError, ResourceRepo};

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

impl ResourceRepo {
    /// Resolves a full or abbreviated commit id.
    pub fn resolve_commit(&self, spec: &str) -> Result<Option<CommitId>, GitError> {
        match self.repo.revparse_single(spec).and_then(|o| o.peel_to_commit()) {
            Ok(c) => Ok(Some(CommitId::from_oid(c.id()))),
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

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: CommitId, descendant: CommitId) -> Result<bool, GitError> {
        if ancestor == descendant {
            return Ok(true);
        }
        self.repo
            .graph_descendant_of(descendant.oid(), ancestor.oid())
            .map_err(self.err("compare commits"))
    }

    /// Commits reachable from `from` (newest first) that changed anything under
    /// `path` (a file or a folder), at most `limit`.
    pub fn history(&self, from: CommitId, path: &str, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.path_commits(from, path, |commit| {
            out.push(to_info(commit));
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Walks the commits reachable from `from`, newest first, that changed
    /// anything under `path`, while `more` says to go on; whether the walk
    /// reached the end of the history.
    fn path_commits(
        &self,
        from: CommitId,
        path: &str,
        mut more: impl FnMut(&git2::Commit<'_>) -> bool,
    ) -> Result<bool, GitError> {
        let path = Path::new(path.trim_end_matches('/'));
        let entry_id = |tree: Result<git2::Tree<'_>, git2::Error>| tree.ok()?.get_path(path).ok().map(|e| e.id());
        // The entry in the first parent of the commit before: in a linear history
        // that is this commit, whose tree then needs no second look.
        let mut parent_entry: Option<(Oid, Option<Oid>)> = None;
        for commit in NewestFirst::new(&self.repo, from.oid()) {
            let commit = commit.map_err(self.err("walk history"))?;
            let here = match parent_entry {
                Some((oid, entry)) if oid == commit.id() => entry,
                _ => entry_id(commit.tree()),
            };
            let before = match commit.parent_id(0) {
                Ok(parent) => {
                    let entry = entry_id(self.repo.find_commit(parent).and_then(|p| p.tree()));
                    parent_entry = Some((parent, entry));
                    entry
                }
                Err(_) => None,
            };
            // Merge commits count only when they differ from the first parent.
            if here != before && !more(&commit) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every commit reachable from `from`, newest first, at most `limit`.
    pub fn log(&self, from: CommitId, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
        let mut out = Vec::new();
        for commit in NewestFirst::new(&self.repo, from.oid()).take(limit) {
            out.push(to_info(&commit.map_err(self.err("walk history"))?));
        }
        Ok(out)
    }
}

/// The commits reachable from a commit, newest first by commit time, each read
/// when the walk gets to it (git's default `log` order). libgit2's sorted
/// revwalk reads the whole history before it yields the first commit, which
/// makes every short look at a long history (the last change of a path, the
/// last few versions) cost as much as a walk of all of it. In a linear history
/// (writers only fast-forward) every commit comes before its parent; after a
/// merge, commits of the two sides interleave by time.
struct NewestFirst<'r> {
    repo: &'r Repository,
    /// (commit time, arrival: earlier first among equal times, id).
    queue: BinaryHeap<(i64, Reverse<u64>, Oid)>,
    seen: HashSet<Oid>,
    arrivals: u64,
    failed: bool,
}

impl<'r> NewestFirst<'r> {
    fn new(repo: &'r Repository, from: Oid) -> Self {
        let mut walk = NewestFirst {
            repo,
            queue: BinaryHeap::new(),
            seen: HashSet::new(),
            arrivals: 0,
            failed: false,
        };
        // The first commit's time does not matter: it is alone in the queue.
        walk.enqueue(from, 0);
        walk
    }

    fn enqueue(&mut self, oid: Oid, time: i64) {
        if self.seen.insert(oid) {
            self.arrivals += 1;
            self.queue.push((time, Reverse(self.arrivals), oid));
        }
    }
}

impl<'r> Iterator for NewestFirst<'r> {
    type Item = Result<git2::Commit<'r>, git2::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (_, _, oid) = self.queue.pop()?;
        let repo = self.repo;
        let commit = match repo.find_commit(oid) {
            Ok(commit) => commit,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        for parent in commit.parents() {
            self.enqueue(parent.id(), parent.time().seconds());
        }
        Some(Ok(commit))
    }
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

impl ResourceRepo {
    /// Commits reachable from `from` (newest first) that changed the file at
    /// `path`, each with the file's content after it, at most `limit`; the flag
    /// says the whole history was walked (no older change exists).
    pub fn file_changes(
        &self,
        from: CommitId,
        path: &str,
        limit: usize,
    ) -> Result<(Vec<VersionChange>, bool), GitError> {
        self.file_changes_until(from, path, limit, |_| false)
    }

    /// [`ResourceRepo::file_changes`] that stops early once `settled` says the
    /// changes read so far are enough (the last one read is then the last returned;
    /// `complete` is false unless the history ended there).
    fn file_changes_until(
        &self,
        from: CommitId,
        path: &str,
        limit: usize,
        mut settled: impl FnMut(&VersionChange) -> bool,
    ) -> Result<(Vec<VersionChange>, bool), GitError> {
        let mut out = Vec::new();
        let mut failure = None;
        let ended = self.path_commits(from, path, |commit| {
            if out.len() == limit {
                return false;
            }
            let content = match self.read_file(CommitId::from_oid(commit.id()), path) {
                Ok(content) => content,
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            };
            let info = to_info(commit);
            out.push(VersionChange {
                commit: info.id,
                author: info.author,
                time: info.time,
                message: info.message,
                content,
            });
            !out.last().is_some_and(&mut settled)
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok((out, ended))
    }

    /// The origins a promotion of `service` from `old` to `new` carries, looked
    /// up in the envs of `chain` (root first, as [`slipway_core::lineage::origin_chain`] gives it) from
    /// commit `from`: the first env `new` entered by a commit of its own is
    /// where the versions come from. Promotions found in a later env of the
    /// chain are left out: their text only repeats what came before. At most
    /// `limit` versions per env are read.
    pub fn lineage(
        &self,
        from: CommitId,
        chain: &[String],
        service: &str,
        old: Option<&[u8]>,
        new: &[u8],
        limit: usize,
    ) -> Result<Lineage, GitError> {
        for (i, env) in chain.iter().enumerate() {
            let mut walk = BetweenWalk::new(old, new);
            let (changes, complete) =
                self.file_changes_until(from, &version_path(env, service), limit, |c| walk.saw(c))?;
            if let Some((picked, truncated)) = versions_between(&changes, old, new, complete) {
                return Ok(Lineage {
                    origins: picked
                        .into_iter()
                        .filter(|c| i == 0 || !is_promotion(&c.message))
                        .map(|c| Origin::of(service, env, c))
                        .collect(),
                    truncated,
                });
            }
        }
        Ok(Lineage::default())
    }
}

impl ResourceRepo {
    /// What the next promotion of `t` ships from `snapshot` (see
    /// [`slipway_core::preview`]), with each move's changelogs read from this repo.
    pub fn promotion_preview(
        &self,
        snapshot: &RepoSnapshot,
        t: &Transition,
        transitions: &[Transition],
    ) -> PromotionPreview {
        /// How many changes of a version file the changelogs walk per env.
        const WALK: usize = 200;
        let chain = origin_chain(transitions, &t.source);
        let from = snapshot.commit.parse::<CommitId>().ok();
        preview(snapshot, t, |m| {
            let Some(from) = from else { return Lineage::default() };
            self.lineage(from, &chain, &m.service, m.old_content.as_deref(), &m.new_content, WALK)
                .unwrap_or_else(|e| {
                    tracing::warn!(service = %m.service, "cannot read the changelogs for the preview: {e}");
                    Lineage::default()
                })
        })
    }
}

/// One commit's change of one version file, as [`ResourceRepo::version_changes`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFileChange {
    pub commit: String,
    /// Seconds since the epoch.
    pub time: i64,
    pub message: String,
    pub env: String,
    pub service: String,
    /// The file after the commit (`None`: deleted).
    pub content: Option<Vec<u8>>,
}

impl ResourceRepo {
    /// In one walk of the history up to `from` (oldest first, at most `limit`
    /// commits): every change of a `<env>/version/<service>.yaml` file, and the
    /// walked commits in order. Only the `version` folders a commit changed are
    /// looked into, so a long history is read quickly.
    pub fn version_changes(
        &self,
        from: CommitId,
        limit: usize,
    ) -> Result<(Vec<VersionFileChange>, Vec<String>), GitError> {
        let mut oids = Vec::new();
        for commit in NewestFirst::new(&self.repo, from.oid()).take(limit) {
            oids.push(commit.map_err(self.err("walk history"))?.id());
        }
        oids.reverse();
        let version_dirs = |tree: Option<&git2::Tree<'_>>| -> BTreeMap<String, Oid> {
            let mut out = BTreeMap::new();
            let Some(tree) = tree else { return out };
            for entry in tree.iter() {
                if entry.kind() != Some(git2::ObjectType::Tree) {
                    continue;
                }
                let (Ok(name), Ok(env)) = (entry.name(), entry.to_object(&self.repo).and_then(|o| o.peel_to_tree()))
                else {
                    continue;
                };
                let version = env.get_name("version").map(|v| v.id());
                if let Some(version) = version {
                    out.insert(name.to_string(), version);
                }
            }
            out
        };
        let mut changes = Vec::new();
        let mut order = Vec::with_capacity(oids.len());
        for oid in oids {
            let commit = self.repo.find_commit(oid).map_err(self.err("read commit"))?;
            order.push(oid.to_string());
            let tree = commit.tree().map_err(self.err("read tree"))?;
            let parent_tree = commit.parent(0).ok().and_then(|p| p.tree().ok());
            let (now, before) = (version_dirs(Some(&tree)), version_dirs(parent_tree.as_ref()));
            if now == before {
                continue;
            }
            let envs: std::collections::BTreeSet<&String> = now.keys().chain(before.keys()).collect();
            for env in envs {
                let (a, b) = (before.get(env), now.get(env));
                if a == b {
                    continue;
                }
                let files_a = a.map(|t| self.yaml_files(*t)).transpose()?.unwrap_or_default();
                let files_b = b.map(|t| self.yaml_files(*t)).transpose()?.unwrap_or_default();
                let services: std::collections::BTreeSet<&String> = files_a.keys().chain(files_b.keys()).collect();
                for service in services {
                    let (old, new) = (files_a.get(service), files_b.get(service));
                    if old == new {
                        continue;
                    }
                    let content = match new {
                        Some(id) => Some(
                            self.repo
                                .find_blob(*id)
                                .map_err(self.err("read file"))?
                                .content()
                                .to_vec(),
                        ),
                        None => None,
                    };
                    changes.push(VersionFileChange {
                        commit: oid.to_string(),
                        time: commit.author().when().seconds(),
                        message: commit.message().unwrap_or_default().to_string(),
                        env: env.clone(),
                        service: service.clone(),
                        content,
                    });
                }
            }
        }
        Ok((changes, order))
    }

    /// The `.yaml` files under a tree, by path without `.yaml` (`team-a/api`).
    fn yaml_files(&self, tree: Oid) -> Result<BTreeMap<String, Oid>, GitError> {
        let tree = self.repo.find_tree(tree).map_err(self.err("read tree"))?;
        let mut out = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                if let Some(name) = entry.name().ok().and_then(|n| n.strip_suffix(".yaml")) {
                    out.insert(format!("{dir}{name}"), entry.id());
                }
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(self.err("read tree"))?;
        Ok(out)
    }
}
