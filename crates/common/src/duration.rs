//! Durations in human form (`30s`, `5m`, `1h 30m`) for config files.

use std::time::Duration;

/// Parses `30s`, `5m`, `250ms`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?}: {e} (examples: 30s, 5m, 1h)"))
}

/// Formats a duration the way config files write it.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
