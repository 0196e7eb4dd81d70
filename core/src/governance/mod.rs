//! Data governance: classification and clearance, PII detection, retention and privacy.
//! See docs/governance.md.

pub mod audit;
pub mod clock;
pub mod consent;
pub mod pii;
pub mod privacy;
pub mod retention;
pub mod sensitivity;
pub mod view;

pub use sensitivity::{Sensitivity, SensitivityDefaults};

use std::time::Duration;

/// The property holding a node's classification (`public` … `restricted`).
pub const SENSITIVITY_KEY: &str = "sensitivity";
/// The property listing the kinds of personal data found in a node (`["email", …]`).
pub const PII_KEY: &str = "pii";
/// The property naming the person a node is about (privacy export and erasure).
pub const SUBJECT_KEY: &str = "subject";

/// `key=value` pairs separated by commas (blanks ignored), as the governance settings use.
pub(crate) fn pairs(text: &str) -> Result<Vec<(&str, &str)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => {
                Ok((key.trim(), value.trim()))
            }
            _ => Err(format!("{pair:?} is not of the form type=value")),
        })
        .collect()
}

/// A duration such as `30d`, `12h`, `15m` or `90s` (a whole number and one unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} needs a unit: s, m, h or d (e.g. 30d)")),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number followed by s, m, h or d"))?;
    match number.checked_mul(seconds_per_unit) {
        Some(0) => Err(format!("{text:?} must be longer than zero")),
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err(format!("{text:?} is too long")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("-1d").is_err());
    }
}
