//! The id of a commit of the resource repo, independent of the git library.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A commit id: 20 bytes, written as 40 lowercase hex digits everywhere it is
/// shown, stored or sent (the status APIs, `RepoSnapshot::commit`, history).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId([u8; 20]);

/// A text that is not a full commit id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?} is not a commit id (40 hex digits)")]
pub struct InvalidCommitId {
    /// What was given.
    pub text: String,
}

impl CommitId {
    pub(crate) fn from_oid(oid: git2::Oid) -> Self {
        let mut bytes = [0; 20];
        // An Oid is SHA-1 (20 bytes) in every libgit2 build Slipway links.
        bytes.copy_from_slice(&oid.as_bytes()[..20]);
        CommitId(bytes)
    }

    pub(crate) fn oid(self) -> git2::Oid {
        git2::Oid::from_bytes(&self.0).expect("twenty bytes are always a SHA-1 id")
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({self})")
    }
}

impl FromStr for CommitId {
    type Err = InvalidCommitId;

    /// Only a full id: an abbreviated one needs the repo to resolve
    /// (`ResourceRepo::resolve_commit`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidCommitId { text: text.to_string() };
        let digits = text.as_bytes();
        // `from_str_radix` alone would take a sign ("+f").
        if digits.len() != 40 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(invalid());
        }
        let mut bytes = [0; 20];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(CommitId(bytes))
    }
}

impl Serialize for CommitId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CommitId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_commit_id_reads_and_writes_as_its_40_hex_digits() {
        let id: CommitId = ID.parse().unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(id, ID.to_uppercase().parse().unwrap(), "hex digits in either case");
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{ID}\""));
        assert_eq!(serde_json::from_str::<CommitId>(&format!("\"{ID}\"")).unwrap(), id);
        assert_eq!(CommitId::from_oid(id.oid()), id);
        assert_eq!(id.oid().to_string(), ID);
    }

    #[test]
    fn abbreviated_or_malformed_ids_are_rejected() {
        for bad in [
            "",
            "0123abc",
            "+123456789abcdef0123456789abcdef01234567",
            &ID[..39],
            &format!("{ID}0"),
            &ID.replace('a', "g"),
            "é0123456789abcdef0123456789abcdef012345",
        ] {
            assert!(bad.parse::<CommitId>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<CommitId>("\"abc\"").is_err());
    }
}
