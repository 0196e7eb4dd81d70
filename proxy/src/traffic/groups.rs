//! Route groups: which group a normalized path belongs to, matched with the authz route-rule
//! pattern syntax (`crate::request::matcher`), first listed group first.

use super::config::{OnError, RouteGroup};
use crate::request::matcher::{Methods, Pattern, RouteTable};

/// Index of a group in the policy file's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub(crate) usize);

#[derive(Debug)]
pub struct RouteGroups {
    table: RouteTable,
    /// Pattern index in `table` → group.
    owner: Vec<GroupId>,
    groups: Vec<RouteGroup>,
}

impl RouteGroups {
    /// Patterns are checked by `config::validate`; a bad one here is reported again.
    pub fn new(groups: &[RouteGroup]) -> Result<Self, String> {
        let mut table = RouteTable::default();
        let mut owner = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            for p in &g.paths {
                table.push(Methods::ANY, &Pattern::parse(p)?);
                owner.push(GroupId(i));
            }
        }
        Ok(Self {
            table,
            owner,
            groups: groups.to_vec(),
        })
    }

    /// `path` is the normalized path without the query.
    pub fn find(&self, path: &str) -> Option<GroupId> {
        self.table.find("GET", path).map(|i| self.owner[i])
    }

    pub fn get(&self, id: GroupId) -> &RouteGroup {
        &self.groups[id.0]
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The body limit for a request: the group's, never more than the global one.
    pub fn max_body_bytes(&self, group: Option<GroupId>, global: u64) -> u64 {
        group
            .and_then(|g| self.get(g).max_body_bytes)
            .map_or(global, |b| b.min(global))
    }

    pub(crate) fn on_redis_error(&self, id: GroupId) -> Option<OnError> {
        self.get(id).on_redis_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::config::TrafficConfig;

    #[test]
    fn default_groups() {
        let g = RouteGroups::new(&TrafficConfig::default().groups).unwrap();
        let name = |p| g.find(p).map(|id| g.get(id).name.as_str());
        assert_eq!(name("/api/health"), Some("health"));
        assert_eq!(name("/api/nodes/n1"), Some("api"));
        assert_eq!(name("/mcp"), Some("mcp"));
        assert_eq!(name("/auth/login"), Some("auth"));
        assert_eq!(name("/"), None);
        let mcp = g.find("/mcp");
        assert_eq!(g.max_body_bytes(mcp, 10 << 20), 1 << 20);
        assert_eq!(g.max_body_bytes(mcp, 1000), 1000);
        assert_eq!(g.max_body_bytes(g.find("/api/x"), 10 << 20), 10 << 20);
    }
}
