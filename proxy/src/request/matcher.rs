//! Route patterns and the table that finds the first rule matching a request.
//!
//! Syntax (matched against the normalized path, case-sensitive, no query string):
//! - `/api/nodes` — literal segments; the pattern must itself be in normalized form;
//! - `*` — exactly one non-empty segment (`/api/nodes/*` matches `/api/nodes/n1`, not
//!   `/api/nodes` nor `/api/nodes/n1/edges`);
//! - `**` — only as the last segment: zero or more segments (`/api/**` matches `/api`, `/api/`
//!   and everything below);
//! - a trailing `/` is significant, as in the normalized path (`/api/nodes/` ≠ `/api/nodes`).
//!
//! Rules are kept in a segment trie, so a lookup costs a walk down the path's segments instead
//! of a scan over every rule; among all matching rules the one listed first wins.

use crate::request::normalize::{normalize_path, PathOptions};
use foldhash::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Star,
    GlobStar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Segment>);

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(format!("{pattern:?} must start with '/'"));
        };
        if pattern.contains(['?', '#']) {
            return Err(format!(
                "{pattern:?}: patterns match the path only, without query or fragment"
            ));
        }
        let raw: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            segments.push(match *s {
                "**" if last => Segment::GlobStar,
                "**" => {
                    return Err(format!(
                        "{pattern:?}: `**` is only allowed as the last segment"
                    ))
                }
                "*" => Segment::Star,
                s if s.contains('*') => {
                    return Err(format!(
                        "{pattern:?}: `*` must be a whole segment (`/a/*`), not part of one"
                    ))
                }
                s => Segment::Literal(s.into()),
            });
        }
        // Literals must already be normalized, or the rule could never match: `/api//keys`,
        // `/api/../keys`, `%2e`, lowercase escapes and raw non-ASCII are all refused here.
        let opts = PathOptions {
            allow_encoded_slash: true,
            max_bytes: usize::MAX,
        };
        match normalize_path(pattern.as_bytes(), &opts) {
            Ok(n) if n == pattern => Ok(Self(segments)),
            Ok(n) => Err(format!(
                "{pattern:?} is not a normalized path (it would normalize to {n:?}); rules match normalized paths"
            )),
            Err(e) => Err(format!("{pattern:?}: {e}")),
        }
    }
}

impl Pattern {
    /// Whether this pattern matches every path `other` matches (an earlier rule with it leaves
    /// nothing of `other` for a later rule).
    pub fn covers(&self, other: &Pattern) -> bool {
        let (mine, theirs) = (&self.0, &other.0);
        for (i, segment) in mine.iter().enumerate() {
            if *segment == Segment::GlobStar {
                // This point and everything below it, which is where `other` is.
                return true;
            }
            let Some(their) = theirs.get(i) else {
                return false;
            };
            let covered = match (segment, their) {
                (Segment::GlobStar, _) | (_, Segment::GlobStar) => false,
                (Segment::Literal(a), Segment::Literal(b)) => a == b,
                (Segment::Star, Segment::Literal(b)) => !b.is_empty(),
                (Segment::Star, Segment::Star) => true,
                (Segment::Literal(_), Segment::Star) => false,
            };
            if !covered {
                return false;
            }
        }
        mine.len() == theirs.len()
    }
}

/// HTTP methods a rule applies to. `GET` includes `HEAD`: the upstream answers `HEAD` with its
/// `GET` handler, so both must need the same permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods(u16);

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

impl Methods {
    pub const ANY: Methods = Methods(u16::MAX);

    /// From a rule's list: standard method names in uppercase, or `*`.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        let mut bits = 0u16;
        let mut any = false;
        for m in list {
            if m == "*" {
                any = true;
                continue;
            }
            let i = METHODS.iter().position(|k| k == m).ok_or_else(|| {
                format!(
                    "unknown method {m:?}: use uppercase standard methods ({}) or \"*\"",
                    METHODS.join(", ")
                )
            })?;
            bits |= 1 << i;
            if m == "GET" {
                bits |= 1 << 1;
            }
        }
        match (any, bits) {
            (true, _) => Ok(Self::ANY),
            (false, 0) => Err("lists no method; use [\"*\"] for all".into()),
            (false, bits) => Ok(Self(bits)),
        }
    }

    /// The methods of `self` that `other` does not have (`*` also stands for methods no rule
    /// can name, so only `*` removes all of `*`).
    pub fn without(self, other: Methods) -> Methods {
        Methods(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Method names are case-sensitive (RFC 9110): `get` matches only `*` rules.
    fn contains(self, method: &str) -> bool {
        if self == Self::ANY {
            return true;
        }
        METHODS
            .iter()
            .position(|k| *k == method)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    star: Option<Box<Node>>,
    /// Rules ending in `**` here (they match this point and everything below), ascending.
    globstar: Vec<usize>,
    /// Rules ending exactly here, ascending.
    end: Vec<usize>,
}

/// Finds the first rule (lowest index) whose method set and pattern match.
#[derive(Debug, Default)]
pub struct RouteTable {
    root: Node,
    methods: Vec<Methods>,
}

impl RouteTable {
    /// Rules must be added in priority order.
    pub fn push(&mut self, methods: Methods, pattern: &Pattern) {
        let index = self.methods.len();
        self.methods.push(methods);
        let mut node = &mut self.root;
        for segment in &pattern.0 {
            match segment {
                Segment::Literal(s) => node = node.literal.entry(s.clone()).or_default(),
                Segment::Star => node = node.star.get_or_insert_with(Box::default),
                Segment::GlobStar => {
                    node.globstar.push(index);
                    return;
                }
            }
        }
        node.end.push(index);
    }

    pub fn find(&self, method: &str, path: &str) -> Option<usize> {
        let rest = path.strip_prefix('/')?;
        let mut best = None;
        self.walk(&self.root, Some(rest), method, &mut best);
        best
    }

    /// `rest` is what follows the last `/` consumed; `None` once the path is used up.
    fn walk(&self, node: &Node, rest: Option<&str>, method: &str, best: &mut Option<usize>) {
        self.consider(&node.globstar, method, best);
        let Some(rest) = rest else {
            self.consider(&node.end, method, best);
            return;
        };
        let (segment, tail) = match rest.split_once('/') {
            Some((s, t)) => (s, Some(t)),
            None => (rest, None),
        };
        if let Some(child) = node.literal.get(segment) {
            self.walk(child, tail, method, best);
        }
        if let Some(child) = &node.star {
            if !segment.is_empty() {
                self.walk(child, tail, method, best);
            }
        }
    }

    fn consider(&self, candidates: &[usize], method: &str, best: &mut Option<usize>) {
        for &i in candidates {
            if best.is_some_and(|b| b <= i) {
                return;
            }
            if self.methods[i].contains(method) {
                *best = Some(i);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rules: &[(&str, &str)]) -> RouteTable {
        let mut t = RouteTable::default();
        for (m, p) in rules {
            let methods: Vec<String> = m.split(',').map(str::to_owned).collect();
            t.push(
                Methods::parse(&methods).unwrap(),
                &Pattern::parse(p).unwrap(),
            );
        }
        t
    }

    #[test]
    fn pattern_syntax() {
        for ok in [
            "/",
            "/**",
            "/api/nodes",
            "/api/nodes/*",
            "/api/*/edges",
            "/api/",
            "/a%20b",
        ] {
            assert!(Pattern::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "api",
            "",
            "/api/**/x",
            "/api/no*",
            "/api//keys",
            "/api/../keys",
            "/api/%2e%2e/keys",
            "/a%2fb",
            "/é",
            "/api?x=1",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        // `%2f` (lowercase) normalizes to `%2F`, so only the uppercase form can match.
        assert!(Pattern::parse("/a%2fb").is_err());
        assert!(Pattern::parse("/a%2Fb").is_ok());
    }

    #[test]
    fn covering_patterns() {
        let covers = |a: &str, b: &str| {
            Pattern::parse(a)
                .unwrap()
                .covers(&Pattern::parse(b).unwrap())
        };
        for (a, b) in [
            ("/api/**", "/api"),
            ("/api/**", "/api/"),
            ("/api/**", "/api/nodes/*"),
            ("/api/**", "/api/x/**"),
            ("/**", "/"),
            ("/api/*", "/api/nodes"),
            ("/api/*/edges", "/api/*/edges"),
            ("/api/nodes", "/api/nodes"),
        ] {
            assert!(covers(a, b), "{a} covers {b}");
        }
        for (a, b) in [
            ("/api/nodes/**", "/api/**"),
            ("/api/*", "/api/"),
            ("/api/*", "/api/a/b"),
            ("/api/nodes", "/api/*"),
            ("/api/nodes", "/api/nodes/"),
            ("/api/*/x", "/api/**"),
            ("/api", "/api/**"),
        ] {
            assert!(!covers(a, b), "{a} does not cover {b}");
        }
        let methods = |m: &[&str]| {
            Methods::parse(&m.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        assert!(methods(&["GET", "POST"])
            .without(methods(&["GET", "POST"]))
            .is_empty());
        assert!(!methods(&["GET", "POST"])
            .without(methods(&["GET"]))
            .is_empty());
        assert!(!Methods::ANY
            .without(methods(&[
                "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"
            ]))
            .is_empty());
        assert!(methods(&["DELETE"]).without(Methods::ANY).is_empty());
    }

    #[test]
    fn first_listed_rule_wins() {
        let t = table(&[
            ("GET", "/api/nodes/query"),
            ("*", "/api/nodes/*"),
            ("GET", "/api/**"),
            ("*", "/**"),
        ]);
        assert_eq!(t.find("GET", "/api/nodes/query"), Some(0));
        assert_eq!(t.find("HEAD", "/api/nodes/query"), Some(0));
        assert_eq!(t.find("POST", "/api/nodes/query"), Some(1));
        assert_eq!(t.find("GET", "/api/nodes/n1"), Some(1));
        assert_eq!(t.find("GET", "/api/nodes"), Some(2));
        assert_eq!(t.find("GET", "/api"), Some(2));
        assert_eq!(t.find("GET", "/api/"), Some(2));
        assert_eq!(t.find("DELETE", "/api/nodes/n1/edges"), Some(3));
        assert_eq!(t.find("GET", "/"), Some(3));
        // A later literal does not beat an earlier wildcard.
        let t = table(&[("*", "/api/*"), ("GET", "/api/keys")]);
        assert_eq!(t.find("GET", "/api/keys"), Some(0));
    }

    #[test]
    fn strict_matching() {
        let t = table(&[("GET", "/api/nodes/*"), ("POST", "/api/nodes")]);
        assert_eq!(
            t.find("GET", "/api/nodes/"),
            None,
            "* needs a non-empty segment"
        );
        assert_eq!(t.find("GET", "/api/nodes/a/b"), None);
        assert_eq!(
            t.find("POST", "/api/nodes/"),
            None,
            "trailing slash is significant"
        );
        assert_eq!(t.find("GET", "/API/nodes/a"), None, "case-sensitive");
        assert_eq!(
            t.find("get", "/api/nodes/a"),
            None,
            "methods are case-sensitive"
        );
        assert_eq!(t.find("PROPFIND", "/api/nodes/a"), None);
        assert_eq!(t.find("GET", "api/nodes/a"), None);
        let any = table(&[("*", "/x")]);
        assert_eq!(any.find("PROPFIND", "/x"), Some(0));
    }

    #[test]
    fn methods() {
        assert!(Methods::parse(&["get".into()]).is_err());
        assert!(Methods::parse(&[]).is_err());
        assert!(Methods::parse(&["FOO".into()]).is_err());
        assert!(Methods::parse(&["*".into(), "get".into()]).is_err());
        let post = Methods::parse(&["POST".into()]).unwrap();
        assert!(!post.contains("HEAD") && !post.contains("GET"));
    }
}
