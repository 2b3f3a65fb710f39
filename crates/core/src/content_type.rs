//! The one media type the services take request bodies in.

/// Whether a `Content-Type` header value says JSON: `application/json`, with
/// parameters such as `; charset=utf-8` allowed. A form or plain text never is,
/// even when it happens to parse as JSON.
pub fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_application_json_is_json() {
        for yes in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "text/json",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
