//! Values the proxy writes into request headers verbatim (user ids, roles): what may go there.

/// A user id or role is put into a header verbatim: printable ASCII only, and for roles
/// nothing that would split the comma-separated list.
pub fn is_header_safe(value: &str, is_role: bool) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() || (b == b' ' && !is_role))
        && !(is_role && value.contains(','))
}
