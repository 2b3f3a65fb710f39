//! Git notes beside the branch: added and pushed without moving the branch,
//! read back by another checkout, and kept under concurrent writers.

use slipway_repo::{Author, CommitId, GitAuth, RepoLocation, ResourceRepo};

const NOTES: &str = "refs/notes/slipway/test";

fn open(t: &git_fixture::TempRepo, name: &str) -> ResourceRepo {
    ResourceRepo::open_and_fetch(RepoLocation {
        url: t.url(),
        checkout_path: t.scratch(name),
        branch: "main".into(),
        auth: GitAuth::default(),
        timeout: slipway_repo::DEFAULT_GIT_TIMEOUT,
        stale_lock_after: slipway_repo::DEFAULT_STALE_LOCK_AFTER,
    })
    .unwrap()
}

fn repo() -> git_fixture::TempRepo {
    git_fixture::temp(
        r#"
commits:
  - message: one
    files: {a.yaml: "a: 1\n"}
  - message: two
    files: {a.yaml: "a: 2\n"}
"#,
    )
    .unwrap()
}

/// Appends `addition` as a line unless the note has it.
fn append(existing: Option<&str>, addition: &str) -> Option<String> {
    let existing = existing.unwrap_or_default();
    if existing.lines().any(|l| l == addition) {
        return None;
    }
    Some(format!("{existing}{addition}\n"))
}

#[test]
fn notes_are_pushed_without_moving_the_branch_and_read_by_another_checkout() {
    let t = repo();
    let head_before = t.head();
    let writer = open(&t, "writer");
    let head: CommitId = writer.head().unwrap();
    assert_eq!(writer.notes(NOTES).unwrap(), vec![], "no notes yet");
    let author = Author::named("writer");
    let added = writer
        .add_notes(&author, NOTES, &[(head, "dev Clean".into())], append)
        .unwrap();
    assert_eq!(added, 1);
    assert_eq!(
        writer
            .add_notes(&author, NOTES, &[(head, "dev Clean".into())], append)
            .unwrap(),
        0,
        "a note already there is not written again"
    );
    assert_eq!(t.head(), head_before, "the branch did not move");

    let reader = open(&t, "reader");
    reader.fetch_notes(NOTES).unwrap();
    assert_eq!(
        reader.notes(NOTES).unwrap(),
        vec![(head.to_string(), "dev Clean\n".to_string())]
    );
}

#[test]
fn two_writers_adding_notes_at_once_lose_none() {
    let t = repo();
    let first = open(&t, "a");
    let head = first.head().unwrap();
    let parent = first.history(head, "a.yaml", 2).unwrap()[1]
        .id
        .parse::<CommitId>()
        .unwrap();
    drop(first);
    let t = &t;
    std::thread::scope(|s| {
        for name in ["a", "b"] {
            s.spawn(move || {
                let w = open(t, name);
                for i in 0..10 {
                    let on = if i % 2 == 0 { head } else { parent };
                    w.add_notes(&Author::named(name), NOTES, &[(on, format!("{name} {i}"))], append)
                        .unwrap();
                }
            });
        }
    });
    let reader = open(t, "reader");
    reader.fetch_notes(NOTES).unwrap();
    let notes = reader.notes(NOTES).unwrap();
    let mut lines: Vec<String> = notes
        .iter()
        .flat_map(|(_, text)| text.lines().map(str::to_string))
        .collect();
    lines.sort();
    let mut expected: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|n| (0..10).map(move |i| format!("{n} {i}")))
        .collect();
    expected.sort();
    assert_eq!(lines, expected, "every note of both writers is kept");
    assert_eq!(notes.len(), 2, "on two commits");
}
