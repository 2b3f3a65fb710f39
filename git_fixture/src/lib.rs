//! Builds bare git repositories with history from a YAML definition, for the
//! tests of every crate and for the playground.
//!
//! ```yaml
//! branch: main            # optional, default main
//! commits:
//!   - message: initial
//!     author: alice       # optional, default "fixture"
//!     name: first         # optional: look the commit up by this name later
//!     files:
//!       transitions.yaml: |
//!         transitions: {}
//!       dev/version/s1.yaml: {version: "1"}   # mappings and lists are written as YAML
//!     delete: [old/file.yaml]
//! ```
//!
//! [`http::HttpRemote`] serves such a repo over smart HTTP (optionally with a token,
//! optionally over TLS with certificates from [`tls::TlsFiles`]),
//! [`ssh::SshRemote`] over ssh (OpenSSH's sshd with `git-shell`); both can play a
//! remote that refuses connections or hangs. [`ssh::SshAgent`] is an ssh agent
//! of a test's own.
#![forbid(unsafe_code)]

pub mod http;
pub mod ssh;
pub mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository, Signature};
use serde::Deserialize;
use thiserror::Error;

/// Errors of building or changing a fixture repo.
#[derive(Debug, Error)]
pub enum FixtureError {
    #[error("invalid fixture definition: {0}")]
    Definition(#[from] serde_yaml::Error),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// One commit of the definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSpec {
    pub message: String,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub files: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    pub delete: Vec<String>,
    /// The commit's time in seconds since the epoch, for histories with known times; now by default.
    #[serde(default)]
    pub time: Option<i64>,
}

/// A whole definition: the branch and its commits, oldest first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default = "default_branch")]
    pub branch: String,
    #[serde(default)]
    pub commits: Vec<CommitSpec>,
}

fn default_branch() -> String {
    "main".to_string()
}

fn file_text(value: &serde_yaml::Value) -> Result<String, FixtureError> {
    Ok(match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other)?,
    })
}

impl Fixture {
    /// Parses a definition.
    pub fn from_yaml(yaml: &str) -> Result<Self, FixtureError> {
        Ok(serde_yaml::from_str(yaml)?)
    }

    /// Creates the bare repo at `path` (which must not hold a repo yet) with the history.
    pub fn build(&self, path: &Path) -> Result<BuiltRepo, FixtureError> {
        std::fs::create_dir_all(path)?;
        let repo = Repository::init_bare(path)?;
        repo.set_head(&format!("refs/heads/{}", self.branch))?;
        let built = BuiltRepo {
            path: path.to_path_buf(),
            branch: self.branch.clone(),
            names: BTreeMap::new(),
        };
        let mut built = built;
        for spec in &self.commits {
            let mut files: Vec<(String, Option<String>)> = Vec::new();
            for (p, v) in &spec.files {
                files.push((p.clone(), Some(file_text(v)?)));
            }
            for p in &spec.delete {
                files.push((p.clone(), None));
            }
            let author = spec.author.as_deref().unwrap_or("fixture");
            let oid = built.commit_at(author, &spec.message, &files, spec.time)?;
            if let Some(name) = &spec.name {
                built.names.insert(name.clone(), oid);
            }
        }
        Ok(built)
    }
}

/// A bare repo built from a definition.
#[derive(Debug, Clone)]
pub struct BuiltRepo {
    pub path: PathBuf,
    pub branch: String,
    names: BTreeMap<String, String>,
}

impl BuiltRepo {
    /// The URL services use to reach it (a local path).
    pub fn url(&self) -> String {
        self.path.display().to_string()
    }

    /// The id of a commit named in the definition.
    pub fn named(&self, name: &str) -> Option<&str> {
        self.names.get(name).map(String::as_str)
    }

    fn open(&self) -> Result<Repository, FixtureError> {
        Ok(Repository::open_bare(&self.path)?)
    }

    /// The head commit of the branch.
    pub fn head(&self) -> Option<String> {
        let repo = self.open().ok()?;
        let id = repo.refname_to_id(&format!("refs/heads/{}", self.branch)).ok()?;
        Some(id.to_string())
    }

    /// Adds a commit on top of the branch, like a person pushing (author "fixture").
    /// `None` deletes a file. Returns the new commit id.
    pub fn commit(&self, message: &str, files: &[(&str, Option<&str>)]) -> Result<String, FixtureError> {
        let files: Vec<(String, Option<String>)> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.map(str::to_string)))
            .collect();
        self.commit_as("fixture", message, &files)
    }

    /// Adds a commit with the given author name. Safe against concurrent writers:
    /// the branch only moves if it still points at the parent.
    pub fn commit_as(
        &self,
        author: &str,
        message: &str,
        files: &[(String, Option<String>)],
    ) -> Result<String, FixtureError> {
        self.commit_at(author, message, files, None)
    }

    /// Like [`BuiltRepo::commit_as`], at `time` (seconds since the epoch; `None`: now).
    pub fn commit_at(
        &self,
        author: &str,
        message: &str,
        files: &[(String, Option<String>)],
        time: Option<i64>,
    ) -> Result<String, FixtureError> {
        let repo = self.open()?;
        let refname = format!("refs/heads/{}", self.branch);
        loop {
            let parent = repo.refname_to_id(&refname).ok();
            let parent_commit = match parent {
                Some(p) => Some(repo.find_commit(p)?),
                None => None,
            };
            let base = match &parent_commit {
                Some(c) => c.tree()?,
                None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
            };
            let mut update = TreeUpdateBuilder::new();
            for (path, content) in files {
                match content {
                    Some(text) => {
                        let blob = repo.blob(text.as_bytes())?;
                        update.upsert(path.as_str(), blob, FileMode::Blob);
                    }
                    None => {
                        update.remove(path.as_str());
                    }
                }
            }
            let tree = repo.find_tree(update.create_updated(&repo, &base)?)?;
            let email = format!("{author}@example.com");
            let sig = match time {
                Some(t) => Signature::new(author, &email, &git2::Time::new(t, 0))?,
                None => Signature::now(author, &email)?,
            };
            let parents: Vec<&git2::Commit<'_>> = parent_commit.iter().collect();
            let oid = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
            let moved = match parent {
                Some(p) => repo.reference_matching(&refname, oid, true, p, message),
                None => repo.reference(&refname, oid, false, message),
            };
            match moved {
                Ok(_) => return Ok(oid.to_string()),
                Err(e)
                    if matches!(
                        e.code(),
                        git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A file's text at the head of the branch, `None` if absent.
    pub fn read(&self, path: &str) -> Option<String> {
        let head = self.head()?;
        self.read_at(&head, path)
    }

    /// A file's text at a commit, `None` if absent.
    pub fn read_at(&self, commit: &str, path: &str) -> Option<String> {
        let repo = self.open().ok()?;
        let commit = repo.find_commit(Oid::from_str(commit).ok()?).ok()?;
        let entry = commit.tree().ok()?.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// Every file path at the head of the branch.
    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(repo) = self.open() else { return out };
        let Some(head) = self.head() else { return out };
        let Ok(commit) = Oid::from_str(&head).and_then(|o| repo.find_commit(o)) else {
            return out;
        };
        if let Ok(tree) = commit.tree() {
            let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
                if e.kind() == Some(git2::ObjectType::Blob) {
                    out.push(format!("{dir}{}", e.name().unwrap_or_default()));
                }
                git2::TreeWalkResult::Ok
            });
        }
        out
    }

    /// `(id, author, message)` of every commit on the branch, newest first.
    pub fn log(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let Ok(repo) = self.open() else { return out };
        let Some(head) = self.head() else { return out };
        let Ok(mut walk) = repo.revwalk() else { return out };
        let _ = walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME);
        if Oid::from_str(&head).and_then(|h| walk.push(h)).is_err() {
            return out;
        }
        for oid in walk.flatten() {
            if let Ok(c) = repo.find_commit(oid) {
                out.push((
                    oid.to_string(),
                    c.author().name().unwrap_or_default().to_string(),
                    c.message().unwrap_or_default().to_string(),
                ));
            }
        }
        out
    }
}

/// A fixture repo in a temporary folder that is removed when dropped.
pub struct TempRepo {
    pub repo: BuiltRepo,
    /// Holds the folder; also a place for checkouts of the services under test.
    pub dir: tempfile::TempDir,
}

impl TempRepo {
    /// A fresh, empty folder inside the temporary one (e.g. for a service's checkout).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the config file `name` of a service that reads this repo at
    /// `versions_url` (its own URL, or a server's in front of it), with a
    /// checkout of its own in the scratch folder, followed by `more` (further
    /// YAML lines, each ending in a newline); returns the file's path.
    pub fn service_config(&self, name: &str, versions_url: &str, more: &str) -> std::io::Result<PathBuf> {
        let path = self.scratch(name);
        let checkout = self.scratch(&format!("{name}.checkout"));
        let repo_keys = format!(
            "versions_url: {versions_url}\nversions_checkout_path: {}\n",
            checkout.display()
        );
        std::fs::write(&path, repo_keys + more)?;
        Ok(path)
    }
}

impl std::ops::Deref for TempRepo {
    type Target = BuiltRepo;
    fn deref(&self) -> &BuiltRepo {
        &self.repo
    }
}

/// Builds a definition into a new temporary folder (`<tmp>/origin.git`).
pub fn temp(yaml: &str) -> Result<TempRepo, FixtureError> {
    let dir = tempfile::Builder::new().prefix("slipway-fixture-").tempdir()?;
    let repo = Fixture::from_yaml(yaml)?.build(&dir.path().join("origin.git"))?;
    Ok(TempRepo { repo, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_history_with_writes_deletes_and_names() {
        let t = temp(
            r#"
commits:
  - message: first
    name: one
    files:
      a.yaml: "x: 1\n"
      dir/b.yaml: {k: v}
  - message: second
    author: bob
    files:
      a.yaml: "x: 2\n"
    delete: [dir/b.yaml]
"#,
        )
        .unwrap();
        assert_eq!(t.read("a.yaml").unwrap(), "x: 2\n");
        assert!(t.read("dir/b.yaml").is_none());
        let one = t.named("one").unwrap();
        assert_eq!(t.read_at(one, "dir/b.yaml").unwrap(), "k: v\n");
        let log = t.log();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].1, "bob");
        assert_eq!(log[0].2, "second");
        let c = t.commit("third", &[("c.yaml", Some("y"))]).unwrap();
        assert_eq!(t.head().unwrap(), c);
        assert_eq!(t.paths(), vec!["a.yaml", "c.yaml"]);
    }

    #[test]
    fn rejects_unknown_keys() {
        assert!(Fixture::from_yaml("commits:\n  - mesage: x\n").is_err());
    }
}
