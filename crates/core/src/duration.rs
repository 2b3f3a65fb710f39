//! Durations in the human form config files use (`30s`, `5m`, `1h 30m`).

use std::time::Duration;

/// Formats a duration the way config files write it.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
