//! `X-Request-ID`: keep a well-formed one from the client (so traces join up across hops),
//! otherwise mint a UUID. The value ends up in logs and headers, hence the strict charset.

use http::HeaderValue;

const MAX_LEN: usize = 128;

/// The request id for a request whose `X-Request-ID` values are `incoming`.
/// Several values, or one that is empty, too long or outside `[A-Za-z0-9._-]`, are replaced.
pub fn accept_or_generate<'a>(mut incoming: impl Iterator<Item = &'a HeaderValue>) -> String {
    match (incoming.next(), incoming.next()) {
        (Some(value), None) if is_valid(value.as_bytes()) => {
            // is_valid admits ASCII only, so this is lossless.
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        }
        _ => generate(),
    }
}

/// A new request id, for a request that brought none the proxy could keep.
pub fn generate() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn is_valid(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[&str]) -> String {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        accept_or_generate(values.iter())
    }

    #[test]
    fn keeps_valid_ids() {
        assert_eq!(run(&["abc-123_X.y"]), "abc-123_X.y");
        let max = "a".repeat(128);
        assert_eq!(run(&[&max]), max);
    }

    #[test]
    fn replaces_invalid_ids() {
        for bad in ["", "a b", "a\"b", "<script>", "ü", &"a".repeat(129)] {
            let id = run(&[bad]);
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad:?} -> {id}");
        }
        assert!(uuid::Uuid::parse_str(&run(&["a", "b"])).is_ok());
        assert!(uuid::Uuid::parse_str(&run(&[])).is_ok());
    }
}
