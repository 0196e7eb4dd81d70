//! `allow` / `deny`. nginx takes the first rule that matches, in order; the policy's lists say
//! "deny wins, a non-empty allow list admits only its networks". Both agree when no `deny`
//! follows an `allow` that overlaps it, which is checked; the rest is reported.

use ipnet::IpNet;
use std::net::IpAddr;

use super::draft::{Draft, Sourced};
use super::report::{Findings, Loc};

#[derive(Debug, Clone)]
pub struct Rule {
    pub allow: bool,
    /// `None` is `all`.
    pub net: Option<IpNet>,
    pub at: Loc,
}

/// An address (a single host) or a CIDR network, written in canonical form.
pub fn network(arg: &str) -> Option<IpNet> {
    if let Ok(ip) = arg.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    arg.parse::<IpNet>().ok().map(|n| n.trunc())
}

/// One `allow`/`deny` directive, or a report.
pub fn rule(allow: bool, args: &[String], at: &Loc, f: &mut Findings) -> Option<Rule> {
    let net = match args {
        [all] if all == "all" => None,
        [arg] => match network(arg) {
            Some(net) => Some(net),
            None => {
                f.untranslated(at, "an address, a CIDR network or all expected (no unix:)");
                return None;
            }
        },
        _ => {
            f.untranslated(at, "one argument expected");
            return None;
        }
    };
    Some(Rule {
        allow,
        net,
        at: at.clone(),
    })
}

/// The rules of one block, in order, into the policy's global lists.
pub fn translate(rules: &[Rule], draft: &mut Draft, f: &mut Findings) {
    let Some(last_all) = rules.iter().position(|r| r.net.is_none()) else {
        // No `all`: unmatched addresses are allowed, so only the denies matter.
        for (i, rule) in rules.iter().enumerate() {
            if rule.allow {
                continue;
            }
            if shadowed(rule, &rules[..i], f) {
                continue;
            }
            push(&mut draft.deny, rule);
        }
        return;
    };
    for rule in &rules[last_all + 1..] {
        f.untranslated(
            &rule.at,
            "never reached: an earlier `all` rule decides first",
        );
    }
    let before = &rules[..last_all];
    let final_rule = &rules[last_all];
    for (i, rule) in before.iter().enumerate() {
        if shadowed(rule, &before[..i], f) {
            continue;
        }
        match (rule.allow, final_rule.allow) {
            (false, _) => push(&mut draft.deny, rule),
            // allow X; deny all → an allow list.
            (true, false) => push(&mut draft.allow, rule),
            // allow X; allow all → X changes nothing.
            (true, true) => {}
        }
    }
    if !final_rule.allow && !before.iter().any(|r| r.allow) {
        // deny all without any allow: nobody gets in.
        for net in ["0.0.0.0/0", "::/0"] {
            draft.deny.push(Sourced {
                value: net.parse().expect("valid network"),
                at: final_rule.at.clone(),
            });
        }
    }
}

/// A `deny` after an overlapping `allow` lets nginx admit what the policy's deny list would
/// refuse. (An `allow` after a `deny` agrees with "deny wins".)
fn shadowed(rule: &Rule, earlier: &[Rule], f: &mut Findings) -> bool {
    let Some(net) = rule.net.filter(|_| !rule.allow) else {
        return false;
    };
    let clash = earlier.iter().find(|e| {
        e.allow
            && e.net
                .is_some_and(|n| n.contains(&net.network()) || net.contains(&n.network()))
    });
    if let Some(e) = clash {
        f.untranslated(
            &rule.at,
            format!(
                "overlaps the allow at {}, which nginx checks first; the policy's deny list \
                 always wins",
                e.at
            ),
        );
    }
    clash.is_some()
}

fn push(list: &mut Vec<Sourced<IpNet>>, rule: &Rule) {
    if let Some(net) = rule.net {
        list.push(Sourced {
            value: net,
            at: rule.at.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(spec: &[(&str, &str)]) -> (Draft, Findings) {
        let mut f = Findings::default();
        let parsed: Vec<Rule> = spec
            .iter()
            .enumerate()
            .filter_map(|(i, (kind, arg))| {
                let at = Loc {
                    file: "t.conf".into(),
                    line: i + 1,
                    directive: (*kind).into(),
                };
                rule(*kind == "allow", &[arg.to_string()], &at, &mut f)
            })
            .collect();
        let mut draft = Draft::default();
        translate(&parsed, &mut draft, &mut f);
        (draft, f)
    }

    fn nets(list: &[Sourced<IpNet>]) -> Vec<String> {
        list.iter().map(|s| s.value.to_string()).collect()
    }

    #[test]
    fn allow_list_then_deny_all() {
        let (d, f) = rules(&[
            ("deny", "10.0.0.66"),
            ("allow", "10.0.0.0/8"),
            ("allow", "192.168.1.7/24"),
            ("deny", "all"),
        ]);
        assert_eq!(nets(&d.deny), ["10.0.0.66/32"]);
        assert_eq!(nets(&d.allow), ["10.0.0.0/8", "192.168.1.0/24"]);
        assert!(f.0.is_empty(), "{:?}", f.0);
    }

    #[test]
    fn deny_after_an_overlapping_allow_is_reported() {
        let (d, f) = rules(&[
            ("allow", "10.0.0.0/8"),
            ("deny", "10.1.0.0/16"),
            ("deny", "all"),
        ]);
        assert_eq!(nets(&d.allow), ["10.0.0.0/8"]);
        assert!(d.deny.is_empty());
        assert_eq!(f.untranslated_count(), 1);
        assert_eq!(f.0[0].at.line, 2);
    }

    #[test]
    fn deny_all_alone_and_plain_denies() {
        let (d, _) = rules(&[("deny", "all")]);
        assert_eq!(nets(&d.deny), ["0.0.0.0/0", "::/0"]);
        let (d, f) = rules(&[
            ("deny", "203.0.113.0/24"),
            ("allow", "all"),
            ("deny", "1.2.3.4"),
        ]);
        assert_eq!(nets(&d.deny), ["203.0.113.0/24"]);
        assert!(d.allow.is_empty());
        assert_eq!(f.untranslated_count(), 1);
        let (_, f) = rules(&[("allow", "unix:")]);
        assert_eq!(f.untranslated_count(), 1);
    }
}
