//! Commit messages the aggregator writes, and reading them back for history.
//!
//! ```text
//! s1 42 in latest                 ← subject
//!                                 
//! Fix the login page.             ← changelog (the body)
//!
//! Slipway-Action: version         ← trailers: what kind of change, where
//! Slipway-Env: latest
//! Slipway-Service: s1
//! ```

/// Trailer naming the kind of change (`version`, `promotion`, `rollback`, `lock`).
pub const ACTION: &str = "Slipway-Action";
/// Trailer naming the env a change is in.
pub const ENV: &str = "Slipway-Env";
/// Trailer naming the service a change is about.
pub const SERVICE: &str = "Slipway-Service";

/// Builds a message from a subject, a body (may be empty) and trailers.
pub fn compose(subject: &str, body: &str, trailers: &[(&str, &str)]) -> String {
    let mut out = one_line(subject);
    let body = body.replace("\r\n", "\n");
    let body = body.trim();
    if !body.is_empty() {
        out.push_str("\n\n");
        out.push_str(body);
    }
    if !trailers.is_empty() {
        out.push_str("\n\n");
        for (k, v) in trailers {
            out.push_str(&format!("{k}: {}\n", one_line(v)));
        }
    } else {
        out.push('\n');
    }
    out
}

/// A text fit for a subject or trailer: one line, at most 100 characters.
pub fn one_line(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    if line.chars().count() > 100 {
        let cut: String = line.chars().take(97).collect();
        format!("{cut}...")
    } else {
        line
    }
}

/// A commit message split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedMessage {
    pub subject: String,
    /// The body without subject and trailers (the changelog).
    pub body: String,
    pub trailers: Vec<(String, String)>,
}

impl ParsedMessage {
    /// The value of a trailer, if present.
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `version`, `promotion`, `rollback`, `lock`, or `other` for commits made by hand.
    pub fn kind(&self) -> &'static str {
        match self.trailer(ACTION) {
            Some("version") => "version",
            Some("promotion") => "promotion",
            Some("rollback") => "rollback",
            Some("lock") => "lock",
            _ => "other",
        }
    }
}

fn is_trailer(line: &str) -> Option<(String, String)> {
    let (key, value) = line.split_once(": ")?;
    let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    key_ok.then(|| (key.to_string(), value.trim().to_string()))
}

/// Splits a message into subject, body and trailers (the last paragraph, if every
/// line of it is `Key: value`).
pub fn parse(message: &str) -> ParsedMessage {
    let message = message.replace("\r\n", "\n");
    let mut parts = message.trim().splitn(2, '\n');
    let subject = parts.next().unwrap_or_default().trim().to_string();
    let rest = parts.next().unwrap_or_default().trim();
    let (body, trailers) = match rest.rsplit_once("\n\n") {
        Some((body, last)) => match parse_trailers(last) {
            Some(t) => (body.trim(), t),
            None => (rest, Vec::new()),
        },
        None => match parse_trailers(rest) {
            Some(t) if !rest.is_empty() => ("", t),
            _ => (rest, Vec::new()),
        },
    };
    ParsedMessage {
        subject,
        body: body.to_string(),
        trailers,
    }
}

fn parse_trailers(paragraph: &str) -> Option<Vec<(String, String)>> {
    paragraph.lines().map(|l| is_trailer(l.trim())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_messages_parse_back_into_their_parts() {
        let m = compose(
            "s1 42 in latest",
            "Fix the login page.\n\nAlso: faster.",
            &[(ACTION, "version"), (ENV, "latest"), (SERVICE, "s1")],
        );
        assert!(m.starts_with("s1 42 in latest\n\nFix the login page."), "{m}");
        let p = parse(&m);
        assert_eq!(p.subject, "s1 42 in latest");
        assert_eq!(p.body, "Fix the login page.\n\nAlso: faster.");
        assert_eq!(p.kind(), "version");
        assert_eq!(p.trailer(SERVICE), Some("s1"));
    }

    #[test]
    fn messages_without_trailers_are_other_with_full_body() {
        let p = parse("tweak replicas\n\nbecause load\n");
        assert_eq!(p.kind(), "other");
        assert_eq!(p.body, "because load");
        let p = parse("just a subject");
        assert_eq!((p.subject.as_str(), p.body.as_str()), ("just a subject", ""));
        let p = parse("Lock dev: freeze\n\nSlipway-Action: lock\nSlipway-Env: dev\n");
        assert_eq!((p.kind(), p.body.as_str()), ("lock", ""));
    }

    #[test]
    fn subjects_and_trailer_values_stay_on_one_line() {
        let m = compose("a\nb", "", &[(ENV, "x\ny")]);
        assert_eq!(m, "a b\n\nSlipway-Env: x y\n");
        assert_eq!(one_line(&"x".repeat(200)).chars().count(), 100);
    }
}
