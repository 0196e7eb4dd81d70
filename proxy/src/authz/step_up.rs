//! Scope step-up: an OAuth client's token may carry fewer roles than its user holds. When such
//! a request is refused but the user's other roles would allow it, the client is told which
//! scope to ask for (`403 insufficient_scope`, RFC 6750 §3.1 and the MCP authorization
//! specification), so it can send the person back to consent to more.

use crate::authn::Principal;
use crate::request::mcp::McpRequest;

use super::policy::Policy;

/// The scope (space-separated roles) a broader grant needs for this request: the client's
/// current roles plus the fewest of the user's other roles that allow it; `None` when no
/// grant of this user could.
pub fn needed_scope(
    policy: &Policy,
    principal: &Principal,
    method: &str,
    path: &str,
    mcp: Option<&McpRequest>,
) -> Option<String> {
    let client = principal.client.as_ref()?;
    let granted = client.scopes.as_ref()?;
    let all: Vec<String> = policy
        .effective_roles(&client.user_roles)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if !policy.decide(&all, method, path, mcp).allowed {
        return None;
    }
    let mut scope: Vec<String> = principal.roles.clone();
    for role in &all {
        let with_role: Vec<String> = principal.roles.iter().chain([role]).cloned().collect();
        if !granted.contains(role) && policy.decide(&with_role, method, path, mcp).allowed {
            scope.push(role.clone());
            return Some(scope.join(" "));
        }
    }
    // No single role does it: ask for all of them.
    Some(all.join(" "))
}
