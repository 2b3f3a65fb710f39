//! Checking an ssh server's host key against an OpenSSH `known_hosts` file.
//!
//! The file is read as OpenSSH writes it (`ssh-keyscan`, `ssh -o
//! UserKnownHostsFile=...`): one `HOSTS KEYTYPE BASE64KEY [COMMENT]` per line,
//! hosts as names, `[host]:port` for other ports than 22, `*`/`?` wildcards,
//! `!` negations, or hashed (`|1|salt|hmac`, from `ssh-keyscan -H`), and the
//! `@revoked` marker. `@cert-authority` lines are not supported and are skipped.

use std::path::Path;

use base64::Engine as _;

/// What the known_hosts file says about the key a server offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// The file lists this key for this host.
    Known,
    /// The file lists no key for this host.
    Unknown,
    /// The file lists another key of the same type for this host (on `line`).
    Changed { line: usize },
    /// The file lists keys for this host, but none of the offered type.
    OtherTypes { types: Vec<String> },
    /// The file marks this key `@revoked` (on `line`).
    Revoked { line: usize },
}

/// The name a host has in known_hosts: `host` for port 22, else `[host]:port`.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks `key` (the server's host key blob, as sent on the wire) for `host`
/// and `port` against the contents of a known_hosts file.
pub fn check(known_hosts: &str, host: &str, port: u16, key: &[u8]) -> HostKeyVerdict {
    let name = host_entry_name(host, port);
    let offered_type = key_type(key);
    let mut changed = None;
    let mut other_types = Vec::new();
    let mut known = false;
    for (index, raw) in known_hosts.lines().enumerate() {
        let line = index + 1;
        let mut fields = raw.split_whitespace().peekable();
        let revoked = match fields.peek() {
            None => continue,
            Some(f) if f.starts_with('#') => continue,
            Some(&"@revoked") => {
                fields.next();
                true
            }
            Some(f) if f.starts_with('@') => continue,
            Some(_) => false,
        };
        let (Some(hosts), Some(kind), Some(blob)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(blob) else {
            continue;
        };
        if !hosts_match(hosts, &name) {
            continue;
        }
        if blob == key {
            if revoked {
                return HostKeyVerdict::Revoked { line };
            }
            known = true;
        } else if revoked {
            continue;
        } else if Some(kind) == offered_type.as_deref() {
            changed.get_or_insert(line);
        } else if !other_types.iter().any(|t| t == kind) {
            other_types.push(kind.to_string());
        }
    }
    match (known, changed) {
        (true, _) => HostKeyVerdict::Known,
        (false, Some(line)) => HostKeyVerdict::Changed { line },
        (false, None) if !other_types.is_empty() => HostKeyVerdict::OtherTypes { types: other_types },
        (false, None) => HostKeyVerdict::Unknown,
    }
}

/// Checks the offered key against the file at `path`: `Ok` when it is known,
/// else what to tell the operator.
pub fn verify(path: &Path, host: &str, port: u16, key: &[u8]) -> Result<(), String> {
    let name = host_entry_name(host, port);
    let offered = describe(key);
    let scan = if port == 22 {
        format!("ssh-keyscan {host}")
    } else {
        format!("ssh-keyscan -p {port} {host}")
    };
    let file = path.display();
    let contents = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read the known_hosts file {file}: {e}")),
    };
    match check(&contents, host, port, key) {
        HostKeyVerdict::Known => Ok(()),
        HostKeyVerdict::Unknown => Err(format!(
            "the ssh host key of {name} ({offered}) is unknown: {file} has no key for this host. \
             Check the fingerprint with the host's owner, then add it (`{scan} >> {file}`)"
        )),
        HostKeyVerdict::Changed { line } => Err(format!(
            "the ssh host key of {name} has CHANGED: the server offered {offered}, \
             {file} line {line} holds another key. Someone may be intercepting the connection; \
             if the host's key was rotated, replace that line with the new key (`{scan}`)"
        )),
        HostKeyVerdict::OtherTypes { types } => Err(format!(
            "the ssh host key of {name} ({offered}) is not in {file}, which lists only {} keys \
             for this host; add its key of this type (`{scan}`)",
            types.join(", ")
        )),
        HostKeyVerdict::Revoked { line } => Err(format!(
            "the ssh host key of {name} ({offered}) is marked @revoked in {file} line {line}"
        )),
    }
}

/// The key type named at the start of an ssh key blob (`ssh-ed25519`, `ssh-rsa`, ...).
fn key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    std::str::from_utf8(name).ok().map(str::to_string)
}

/// A key as `ssh-keygen -l` shows it: type and SHA256 fingerprint.
fn describe(blob: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, blob);
    let fingerprint = base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref());
    let kind = key_type(blob).unwrap_or_else(|| "key".to_string());
    format!("{kind} SHA256:{fingerprint}")
}

/// Whether the comma-separated host patterns of a line match `name`: some
/// pattern matches and no negated one does.
fn hosts_match(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard_match(negated, name) => return false,
            Some(_) => {}
            None => matched |= wildcard_match(pattern, name),
        }
    }
    matched
}

/// `salt|hash`: HMAC-SHA1 of the host name keyed with the salt, both base64.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// Glob match with `*` (any run) and `?` (one character), case-insensitive as
/// host names are.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key blob as ssh sends it: the type name as an ssh string, then key bytes.
    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn a_listed_key_is_known_on_its_port_only() {
        let key = blob("ssh-ed25519", b"one");
        let file = format!(
            "# comment\n\n[git.example.com]:2222 ssh-ed25519 {} me@host\n",
            b64(&key)
        );
        assert_eq!(check(&file, "git.example.com", 2222, &key), HostKeyVerdict::Known);
        assert_eq!(check(&file, "git.example.com", 22, &key), HostKeyVerdict::Unknown);
        assert_eq!(check(&file, "other.example.com", 2222, &key), HostKeyVerdict::Unknown);
    }

    #[test]
    fn another_key_of_the_same_type_is_a_changed_key_with_its_line() {
        let listed = blob("ssh-ed25519", b"old");
        let offered = blob("ssh-ed25519", b"new");
        let file = format!(
            "github.com ssh-rsa {}\ngithub.com ssh-ed25519 {}\n",
            b64(&blob("ssh-rsa", b"r")),
            b64(&listed)
        );
        assert_eq!(
            check(&file, "github.com", 22, &offered),
            HostKeyVerdict::Changed { line: 2 }
        );
    }

    #[test]
    fn only_other_key_types_listed_names_them() {
        let file = format!("github.com ssh-rsa {}\n", b64(&blob("ssh-rsa", b"r")));
        assert_eq!(
            check(&file, "github.com", 22, &blob("ssh-ed25519", b"e")),
            HostKeyVerdict::OtherTypes {
                types: vec!["ssh-rsa".into()]
            }
        );
    }

    #[test]
    fn hashed_wildcard_and_negated_patterns_match_as_openssh_does() {
        let key = blob("ssh-ed25519", b"k");
        let salt = b"0123456789abcdefghij";
        let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&hmac_key, b"[10.0.0.5]:2222");
        let hashed = format!("|1|{}|{} ssh-ed25519 {}\n", b64(salt), b64(tag.as_ref()), b64(&key));
        assert_eq!(check(&hashed, "10.0.0.5", 2222, &key), HostKeyVerdict::Known);
        assert_eq!(check(&hashed, "10.0.0.6", 2222, &key), HostKeyVerdict::Unknown);

        let wild = format!("*.example.com,!evil.example.com ssh-ed25519 {}\n", b64(&key));
        assert_eq!(check(&wild, "Git.Example.com", 22, &key), HostKeyVerdict::Known);
        assert_eq!(check(&wild, "evil.example.com", 22, &key), HostKeyVerdict::Unknown);
    }

    #[test]
    fn a_revoked_key_is_refused_even_when_also_listed() {
        let key = blob("ssh-ed25519", b"k");
        let file = format!("h ssh-ed25519 {0}\n@revoked h ssh-ed25519 {0}\n", b64(&key));
        assert_eq!(check(&file, "h", 22, &key), HostKeyVerdict::Revoked { line: 2 });
    }

    #[test]
    fn the_message_for_an_unknown_key_says_how_to_add_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let err = verify(&path, "127.0.0.1", 2222, &blob("ssh-ed25519", b"k")).unwrap_err();
        assert!(err.contains("[127.0.0.1]:2222"), "{err}");
        assert!(err.contains("ssh-ed25519 SHA256:"), "{err}");
        assert!(err.contains("ssh-keyscan -p 2222 127.0.0.1"), "{err}");
    }
}
