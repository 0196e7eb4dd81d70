//! Scopes are the policy's role names: a client asks for some of them, and its tokens carry
//! those among the user's effective roles ([`crate::authz::Policy::grant`] narrows each request
//! to them), so `tools/list` filtering and per-tool rules apply unchanged. Scopes that name no
//! role (`openid`, `offline_access`, …) are ignored; asking for none of the roles grants all of
//! the user's (the client then acts with the user's full rights, as the consent page says).

/// The role scopes among `requested` (space-separated), in the policy's terms; `None` when it
/// names none.
pub fn requested_roles(requested: Option<&str>, roles: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for scope in requested.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if roles.iter().any(|r| r == scope) && !out.iter().any(|o| o == scope) {
            out.push(scope.to_owned());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What a client gets: the requested role scopes the user holds (all the user's effective roles
/// when it asked for none). Empty when it asked only for roles the user does not hold.
pub fn grantable(requested: Option<&[String]>, effective: &[&str]) -> Vec<String> {
    effective
        .iter()
        .filter(|role| requested.is_none_or(|r| r.iter().any(|s| s == *role)))
        .map(|role| (*role).to_owned())
        .collect()
}

/// Whether consent to `given` covers `wanted` (`None` = every role).
pub fn covers(given: Option<&[String]>, wanted: Option<&[String]>) -> bool {
    match (given, wanted) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(g), Some(w)) => w.iter().all(|s| g.contains(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_narrow_to_roles_the_user_holds() {
        let roles: Vec<String> = ["admin", "viewer", "analyst"].map(String::from).to_vec();
        let asked = requested_roles(Some("openid viewer  analyst viewer"), &roles);
        assert_eq!(
            asked.as_deref(),
            Some(&["viewer".to_owned(), "analyst".to_owned()][..])
        );
        assert_eq!(requested_roles(Some("openid offline_access"), &roles), None);
        assert_eq!(grantable(asked.as_deref(), &["viewer"]), ["viewer"]);
        assert_eq!(grantable(None, &["viewer", "admin"]), ["viewer", "admin"]);
        assert!(grantable(Some(&["admin".to_owned()]), &["viewer"]).is_empty());
        let viewer = ["viewer".to_owned()];
        assert!(covers(None, Some(&viewer)));
        assert!(covers(Some(&viewer), Some(&viewer)));
        assert!(!covers(Some(&viewer), None));
        assert!(!covers(Some(&[]), Some(&viewer)));
    }
}
