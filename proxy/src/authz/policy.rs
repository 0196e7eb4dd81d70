//! A compiled policy: RBAC roles plus route rules, MCP methods and tool permissions, prepared so
//! that a decision is a trie walk and a few bit tests.
//!
//! Every permission any rule can require gets a number; each role stores, as a bit set, which of
//! those it grants (wildcards are expanded once, here). A caller's grants are the union of their
//! roles' sets.

use super::decision::{Decision, McpDenial, Reason, RuleRef};
use super::permission::{Permission, Required};
use super::rbac::RbacDocument;
use super::routes::{Access, DefaultAccess, RoutesDocument};
use crate::authn::claims::{roles_in, ClaimPath};
use crate::authn::Principal;
use crate::request::matcher::{Methods, Pattern, RouteTable};
use crate::request::mcp::{McpMessage, McpRequest, MessageKind};
use foldhash::{HashMap, HashMapExt};
use serde_json::Value;
use smallvec::SmallVec;
use std::sync::Arc;

pub struct Policy {
    version: String,
    claim_path: String,
    /// Role index of `defaultRole`.
    default_role: Option<usize>,
    /// IdP group → role indices.
    group_mappings: HashMap<String, Box<[usize]>>,
    strict_group_mappings: bool,
    role_index: HashMap<Box<str>, usize>,
    role_names: Vec<Box<str>>,
    role_grants: Vec<Box<[u64]>>,
    /// Permission id → permission.
    permissions: Vec<Permission>,
    table: RouteTable,
    rules: Vec<Rule>,
    default: DefaultAccess,
    mcp_methods: HashMap<String, Need>,
    tools: HashMap<String, Tool>,
    mcp_max_body_bytes: usize,
    mcp_max_batch: usize,
    /// What the rules, MCP methods and tools were compiled from ([`Policy::same_routes`]).
    routes: RoutesDocument,
}

/// Where a decision's rule comes from: the route table, or a decision of a policy with the same
/// routes ([`Policy::same_routes`]), whose rule is this policy's too (`None`: no rule matched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Table,
    Known(Option<usize>),
}

struct Rule {
    name: Arc<str>,
    kind: RuleKind,
    mcp: bool,
}

enum RuleKind {
    Access(Access),
    Needs(Need),
}

/// Permission ids: all of `all_of`, and one of `any_of` unless it is empty.
#[derive(Default)]
struct Need {
    all_of: Box<[u32]>,
    any_of: Box<[u32]>,
}

struct Tool {
    call: u32,
    need: ToolNeed,
}

enum ToolNeed {
    Every(Need),
    PerOperation(HashMap<String, Need>),
}

/// How much a denial says: everything (the 403, logs, `explain`), or only its reason and rule
/// ([`Policy::verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    Full,
    Verdict,
}

/// Which permissions a caller holds: the bit sets of their roles (a permission is held when any
/// role's set has its bit). Kept inline for up to 4 roles, so a decision does not allocate.
struct Grants<'a>(SmallVec<[&'a [u64]; 4]>);

impl Grants<'_> {
    fn has(&self, id: u32) -> bool {
        let (word, bit) = (id as usize / 64, id % 64);
        self.0
            .iter()
            .any(|set| set.get(word).is_some_and(|w| w & (1 << bit) != 0))
    }

    fn satisfies(&self, need: &Need) -> bool {
        need.all_of.iter().all(|&p| self.has(p))
            && (need.any_of.is_empty() || need.any_of.iter().any(|&p| self.has(p)))
    }
}

/// Summary numbers for logs and reload events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySummary {
    pub version: String,
    pub roles: usize,
    pub rules: usize,
    pub tools: usize,
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Permission, u32>,
    list: Vec<Permission>,
}

impl Interner {
    fn id(&mut self, p: &Permission) -> u32 {
        if let Some(&id) = self.ids.get(p) {
            return id;
        }
        let id = u32::try_from(self.list.len()).expect("fewer than 2^32 permissions");
        self.ids.insert(p.clone(), id);
        self.list.push(p.clone());
        id
    }

    fn need(&mut self, all_of: &[Required], any_of: &[Required]) -> Need {
        Need {
            all_of: all_of.iter().map(|r| self.id(&r.0)).collect(),
            any_of: any_of.iter().map(|r| self.id(&r.0)).collect(),
        }
    }
}

impl Policy {
    /// Documents from `rbac::parse` and `routes::parse` have been checked and always compile;
    /// the error covers documents built by hand.
    pub fn compile(rbac: &RbacDocument, routes: &RoutesDocument) -> Result<Self, String> {
        let mut interner = Interner::default();
        let mut table = RouteTable::default();
        let mut rules = Vec::with_capacity(routes.rules.len());
        for def in &routes.rules {
            let at = |e| format!("rule {:?}: {e}", def.name);
            let methods = Methods::parse(&def.methods).map_err(at)?;
            let pattern = Pattern::parse(&def.path).map_err(at)?;
            table.push(methods, &pattern);
            let kind = match def.access {
                Some(access) => RuleKind::Access(access),
                None => RuleKind::Needs(interner.need(&def.all_of, &def.any_of)),
            };
            rules.push(Rule {
                name: def.name.as_str().into(),
                kind,
                mcp: def.mcp,
            });
        }
        let mcp_methods = routes
            .mcp
            .methods
            .iter()
            .map(|(m, all_of)| (m.clone(), interner.need(all_of, &[])))
            .collect();
        let tools = routes
            .tools
            .iter()
            .map(|(name, def)| {
                let call = Permission::mcp_call(name).map_err(|e| e.to_string())?;
                let need = match (&def.all_of, &def.operations) {
                    (_, Some(ops)) => ToolNeed::PerOperation(
                        ops.iter()
                            .map(|(op, all_of)| (op.clone(), interner.need(all_of, &[])))
                            .collect(),
                    ),
                    (all_of, None) => {
                        ToolNeed::Every(interner.need(all_of.as_deref().unwrap_or_default(), &[]))
                    }
                };
                let tool = Tool {
                    call: interner.id(&call),
                    need,
                };
                Ok((name.clone(), tool))
            })
            .collect::<Result<_, String>>()?;
        let words = interner.list.len().div_ceil(64);
        let mut role_index = HashMap::new();
        let mut role_names = Vec::new();
        let mut role_grants = Vec::new();
        for (name, role) in &rbac.role_mappings.0 {
            let mut bits = vec![0u64; words];
            for (id, required) in interner.list.iter().enumerate() {
                if role.permissions.iter().any(|held| held.grants(required)) {
                    bits[id / 64] |= 1 << (id % 64);
                }
            }
            role_index.insert(name.as_str().into(), role_grants.len());
            role_names.push(name.as_str().into());
            role_grants.push(bits.into_boxed_slice());
        }
        let group_mappings = rbac
            .group_mappings
            .0
            .iter()
            .map(|(group, roles)| {
                let indices = roles
                    .iter()
                    .filter_map(|r| role_index.get(r.as_str()).copied());
                (group.clone(), indices.collect())
            })
            .collect();
        Ok(Self {
            version: rbac.version.clone(),
            claim_path: rbac.claim_path.clone(),
            default_role: rbac
                .default_role
                .as_ref()
                .and_then(|r| role_index.get(r.as_str()).copied()),
            group_mappings,
            strict_group_mappings: rbac.strict_group_mappings,
            role_index,
            role_names,
            role_grants,
            permissions: interner.list,
            table,
            rules,
            default: routes.default,
            mcp_methods,
            tools,
            mcp_max_body_bytes: routes.mcp.max_body_bytes,
            mcp_max_batch: routes.mcp.max_batch,
            routes: routes.clone(),
        })
    }

    /// Whether both were compiled from the same route rules, MCP methods and tools: the same
    /// request then falls under the same rule (rule and permission numbers are the same too).
    pub fn same_routes(&self, other: &Policy) -> bool {
        self.routes == other.routes
    }

    /// Every role's name, in the policy's order (the scopes of the authorization server).
    pub fn role_names(&self) -> Vec<String> {
        self.role_names.iter().map(|r| r.to_string()).collect()
    }

    pub fn summary(&self) -> PolicySummary {
        PolicySummary {
            version: self.version.clone(),
            roles: self.role_grants.len(),
            rules: self.rules.len(),
            tools: self.tools.len(),
        }
    }

    /// Largest MCP body and batch the policy lets [`crate::request::mcp::parse`] accept.
    pub fn mcp_limits(&self) -> (usize, usize) {
        (self.mcp_max_body_bytes, self.mcp_max_batch)
    }

    /// The RBAC document's `claimPath`, for authenticators that read roles from token claims.
    pub fn claim_path(&self) -> &str {
        &self.claim_path
    }

    /// The values of the claim at `claimPath` (role or group names, not yet mapped).
    pub fn roles_for_claims(&self, claims: &Value) -> Vec<String> {
        let mut roles = Vec::new();
        if let Some(value) = claims
            .as_object()
            .and_then(|c| ClaimPath::parse(&self.claim_path).lookup(c))
        {
            roles_in(value, &mut roles);
        }
        roles
    }

    /// The roles that count for a caller presenting `names`: each name that is a role (unless
    /// `strictGroupMappings`) and the roles `groupMappings` gives it; the default role when
    /// `names` is empty. Unknown names count for nothing.
    pub fn effective_roles(&self, names: &[String]) -> Vec<&str> {
        self.role_set(names, None)
            .iter()
            .map(|&i| self.role_names[i].as_ref())
            .collect()
    }

    /// Indices of the roles `names` give, each once, in order; only those named in `scopes`
    /// when given.
    fn role_set(&self, names: &[String], scopes: Option<&[String]>) -> SmallVec<[usize; 4]> {
        let mut out = SmallVec::new();
        for i in self.role_indices(names) {
            let in_scope = scopes.is_none_or(|s| s.iter().any(|r| *r == *self.role_names[i]));
            if in_scope && !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    /// The role indices [`Policy::grant`] gives `principal` as it was authenticated.
    fn granted_set(&self, principal: &Principal) -> SmallVec<[usize; 4]> {
        let scopes = principal.client.as_ref().and_then(|c| c.scopes.as_deref());
        self.role_set(&principal.roles, scopes)
    }

    /// The principal as every stage after authentication sees it: its presented role or group
    /// names replaced by [`Policy::effective_roles`]. Authorization, the injected identity, the
    /// signed assertion (roles and clearance), rate limits and audit all read these, so the core
    /// never learns a role the policy did not grant. Unchanged roles keep the same allocation.
    /// An OAuth client's token keeps only the roles among its granted scopes.
    pub fn grant(&self, principal: Arc<Principal>) -> Arc<Principal> {
        let effective = self.granted_roles(&principal);
        if effective.iter().eq(principal.roles.iter()) {
            return principal;
        }
        let roles = effective.into_iter().map(str::to_owned).collect();
        Arc::new(Principal {
            roles,
            ..Principal::clone(&principal)
        })
    }

    /// The role names [`Policy::grant`] gives `principal` as it was authenticated: the
    /// effective roles of the names it presented, within an OAuth client's granted scopes.
    fn granted_roles(&self, principal: &Principal) -> Vec<&str> {
        self.granted_set(principal)
            .iter()
            .map(|&i| self.role_names[i].as_ref())
            .collect()
    }

    fn role_indices<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = usize> + 'a {
        let default = names.is_empty().then_some(self.default_role).flatten();
        let named = names.iter().flat_map(move |name| {
            let direct = (!self.strict_group_mappings)
                .then(|| self.role_index.get(name.as_str()).copied())
                .flatten();
            let mapped = self
                .group_mappings
                .get(name.as_str())
                .into_iter()
                .flatten()
                .copied();
            direct.into_iter().chain(mapped)
        });
        default.into_iter().chain(named)
    }

    /// Whether the matching rule wants the body parsed as MCP (the gateway must buffer it and
    /// pass the parsed request to [`Policy::decide`]).
    pub fn needs_mcp_body(&self, method: &str, path: &str) -> bool {
        self.table
            .find(method, path)
            .is_some_and(|i| self.rules[i].mcp)
    }

    /// Decides a request of a caller holding the effective `roles` ([`Policy::grant`]: group
    /// mappings and the default role already applied). `path` is the normalized path without
    /// the query. For authenticated callers only (authentication decides which paths are
    /// public).
    pub fn decide<R: AsRef<str>>(
        &self,
        roles: &[R],
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
    ) -> Decision {
        let grants = || self.grants(roles);
        self.decide_with(grants, Lookup::Table, method, path, mcp, Detail::Full)
    }

    /// [`Policy::decide`] for `principal` as authenticated, with the roles [`Policy::grant`]
    /// would give it, down to whether it is allowed, the reason and the rule: a denial does not
    /// say what is missing nor which MCP message it refused. What a shadow policy's decision is
    /// compared by, without the allocations of a principal, a role list or those details.
    pub fn verdict(
        &self,
        principal: &Principal,
        lookup: Lookup,
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
    ) -> Decision {
        let grants = || {
            let set = self.granted_set(principal);
            Grants(set.iter().map(|&i| &self.role_grants[i][..]).collect())
        };
        self.decide_with(grants, lookup, method, path, mcp, Detail::Verdict)
    }

    /// `grants` is called once a rule matched.
    fn decide_with<'a>(
        &'a self,
        grants: impl FnOnce() -> Grants<'a>,
        lookup: Lookup,
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
        detail: Detail,
    ) -> Decision {
        let found = match lookup {
            Lookup::Table => self.table.find(method, path),
            Lookup::Known(index) => index,
        };
        let Some(index) = found else {
            return match self.default {
                DefaultAccess::Deny => Decision::new(false, None, Reason::NoRule),
                DefaultAccess::Authenticated => Decision::new(true, None, Reason::Authenticated),
            };
        };
        let rule = &self.rules[index];
        let rule_ref = RuleRef {
            index,
            name: rule.name.clone(),
        };
        let grants = grants();
        match &rule.kind {
            RuleKind::Access(Access::Public) => {
                return Decision::new(true, Some(rule_ref), Reason::Public)
            }
            RuleKind::Access(Access::Deny) => {
                return Decision::new(false, Some(rule_ref), Reason::RuleDenies)
            }
            RuleKind::Access(Access::Authenticated) => {}
            RuleKind::Needs(need) => {
                if !grants.satisfies(need) {
                    let mut d = Decision::new(false, Some(rule_ref), Reason::MissingPermission);
                    self.fill_missing(&mut d, &grants, need, detail);
                    return d;
                }
            }
        }
        if rule.mcp {
            let Some(request) = mcp else {
                return Decision::new(false, Some(rule_ref), Reason::McpBodyRequired);
            };
            for (i, message) in request.messages.iter().enumerate() {
                if let Some(mut denied) = self.check_message(&grants, message, detail) {
                    denied.rule = Some(rule_ref);
                    if let Some(m) = &mut denied.mcp {
                        m.index = i;
                    }
                    return denied;
                }
            }
        }
        let reason = match rule.kind {
            RuleKind::Access(_) => Reason::Authenticated,
            RuleKind::Needs(_) => Reason::Granted,
        };
        Decision::new(true, Some(rule_ref), reason)
    }

    /// `None` when the message is allowed; otherwise a denial (rule and index set by the caller).
    fn check_message(
        &self,
        grants: &Grants,
        message: &McpMessage,
        detail: Detail,
    ) -> Option<Decision> {
        let (method, tool) = match &message.kind {
            MessageKind::Response => {
                return Some(self.mcp_denial(Reason::McpResponse, None, None, None, detail))
            }
            MessageKind::Call { method, tool } => (method, tool),
        };
        let Some(call) = tool else {
            let need = self.mcp_methods.get(method);
            return match need {
                None => Some(self.mcp_denial(
                    Reason::McpMethodNotAllowed,
                    Some(method),
                    None,
                    None,
                    detail,
                )),
                Some(need) if grants.satisfies(need) => None,
                Some(need) => {
                    let reason = Reason::MissingPermission;
                    let mut d = self.mcp_denial(reason, Some(method), None, None, detail);
                    self.fill_missing(&mut d, grants, need, detail);
                    Some(d)
                }
            };
        };
        let denial = |reason| {
            self.mcp_denial(
                reason,
                Some(method),
                Some(&call.name),
                call.operation.as_deref(),
                detail,
            )
        };
        let Some(tool) = self.tools.get(&call.name) else {
            return Some(denial(Reason::McpUnknownTool));
        };
        let need = match &tool.need {
            ToolNeed::Every(need) => need,
            ToolNeed::PerOperation(ops) => {
                match call.operation.as_ref().and_then(|op| ops.get(op)) {
                    Some(need) => need,
                    None => return Some(denial(Reason::McpUnknownOperation)),
                }
            }
        };
        if grants.has(tool.call) && grants.satisfies(need) {
            return None;
        }
        let mut d = denial(Reason::MissingPermission);
        if detail == Detail::Full && !grants.has(tool.call) {
            d.missing_all_of
                .push(self.permissions[tool.call as usize].to_string());
        }
        self.fill_missing(&mut d, grants, need, detail);
        Some(d)
    }

    fn mcp_denial(
        &self,
        reason: Reason,
        method: Option<&str>,
        tool: Option<&str>,
        operation: Option<&str>,
        detail: Detail,
    ) -> Decision {
        let mut d = Decision::new(false, None, reason);
        if detail == Detail::Verdict {
            return d;
        }
        d.mcp = Some(McpDenial {
            index: 0,
            method: method.map(str::to_owned),
            tool: tool.map(str::to_owned),
            operation: operation.map(str::to_owned),
        });
        d
    }

    fn fill_missing(&self, d: &mut Decision, grants: &Grants, need: &Need, detail: Detail) {
        if detail == Detail::Verdict {
            return;
        }
        let name = |&id: &u32| self.permissions[id as usize].to_string();
        d.missing_all_of
            .extend(need.all_of.iter().filter(|&&p| !grants.has(p)).map(name));
        if !need.any_of.iter().any(|&p| grants.has(p)) {
            d.missing_any_of = need.any_of.iter().map(name).collect();
        }
    }

    /// Whether a caller with the effective `roles` may call `tool` at all (for `tools/list`):
    /// `mcp:call:<tool>` and the permissions of at least one of its operations.
    pub fn may_call_tool(&self, roles: &[String], tool: &str) -> bool {
        let grants = self.grants(roles);
        self.tools.get(tool).is_some_and(|t| {
            grants.has(t.call)
                && match &t.need {
                    ToolNeed::Every(need) => grants.satisfies(need),
                    ToolNeed::PerOperation(ops) => ops.values().any(|n| grants.satisfies(n)),
                }
        })
    }

    /// The grants of effective role names (see [`Policy::grant`]); names that are no role of
    /// this policy (say, after a reload removed it) grant nothing.
    fn grants<R: AsRef<str>>(&self, roles: &[R]) -> Grants<'_> {
        Grants(
            roles
                .iter()
                .filter_map(|name| self.role_index.get(name.as_ref()))
                .map(|&i| &self.role_grants[i][..])
                .collect(),
        )
    }
}
