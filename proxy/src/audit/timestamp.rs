//! `@timestamp`: RFC 3339, UTC, milliseconds (`2026-12-06T20:33:48.123Z`).
//!
//! Every request record carries one, and formatting a date through `time` costs more than the
//! rest of building the record. The part up to the second changes once a second, so each thread
//! keeps the last one it formatted (as nginx caches its time strings) and only the milliseconds
//! are written per call.

use std::cell::RefCell;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

const UP_TO_SECOND: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
/// What a timestamp that cannot be formatted (a year past 9999) becomes.
const UNFORMATTABLE: &str = "1970-01-01T00:00:00";

thread_local! {
    /// The Unix second last formatted on this thread, and its text.
    static LAST_SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

pub(crate) fn rfc3339_millis(at: OffsetDateTime) -> String {
    let second = at.unix_timestamp();
    LAST_SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            *text = at
                .format(UP_TO_SECOND)
                .unwrap_or_else(|_| UNFORMATTABLE.into());
            *cached = second;
        }
        let millis = at.millisecond();
        let mut out = String::with_capacity(text.len() + 5);
        out.push_str(text);
        out.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
        out.push('Z');
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FULL: &[FormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

    #[test]
    fn seconds_and_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_796_589_228_007_900_000).unwrap();
        assert_eq!(rfc3339_millis(at), "2026-12-06T20:33:48.007Z");
        let next = at + time::Duration::milliseconds(993);
        assert_eq!(rfc3339_millis(next), "2026-12-06T20:33:49.000Z");
        // Back to an earlier second on the same thread: the cache follows.
        assert_eq!(rfc3339_millis(at), "2026-12-06T20:33:48.007Z");
    }

    proptest! {
        /// The cached form equals formatting the whole timestamp, in any order of instants.
        #[test]
        fn agrees_with_the_full_format(nanos in prop::collection::vec(0i128..4_102_444_800_000_000_000, 1..20)) {
            for n in nanos {
                let at = OffsetDateTime::from_unix_timestamp_nanos(n).unwrap();
                prop_assert_eq!(rfc3339_millis(at), at.format(FULL).unwrap());
            }
        }
    }
}
