//! The one clock of newsroom: the system time, or `NEWSROOM_NOW` when set.
//!
//! Future-dated posts, the default digest month and message dates depend on
//! "now"; tests and reproducible runs pin it with `NEWSROOM_NOW=<RFC 3339>`.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

/// The environment variable that replaces the system clock.
pub const NOW_VAR: &str = "NEWSROOM_NOW";

/// The current instant: `NEWSROOM_NOW` when set (an RFC 3339 timestamp), else the system clock.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var(NOW_VAR) {
        Ok(value) if !value.trim().is_empty() => DateTime::parse_from_rfc3339(value.trim())
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("{NOW_VAR}=`{value}` is not an RFC 3339 timestamp such as 2026-11-01T00:00:00Z")),
        _ => Ok(Utc::now()),
    }
}
