//! Which nodes a restricted store shows (see [`GraphStore::restricted`](super::GraphStore)).
//! `governance::view` decides what a caller may see and expresses it in these terms; the
//! stores only apply it, inside their own queries.

/// A node is shown when its `sensitivity` property is one of `labels`, or when it has none
/// (absent or `null`) and its type is one of `unlabelled`. Any other value hides the node.
/// An edge is shown when both its ends are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    pub labels: Vec<String>,
    pub unlabelled: Types,
}

/// A set of node types, as the stores test it: `type IN types` differs from `all_but`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Types {
    /// Every type except `types` (true), or only `types` (false).
    pub all_but: bool,
    pub types: Vec<String>,
}

impl Types {
    pub fn all_but(types: Vec<String>) -> Self {
        Self {
            all_but: true,
            types,
        }
    }

    pub fn only(types: Vec<String>) -> Self {
        Self {
            all_but: false,
            types,
        }
    }

    fn and(&self, other: &Types) -> Types {
        let (a, b) = (&self.types, &other.types);
        match (self.all_but, other.all_but) {
            (true, true) => Types::all_but(a.iter().chain(b).cloned().collect()),
            (false, false) => Types::only(a.iter().filter(|t| b.contains(t)).cloned().collect()),
            (true, false) => Types::only(b.iter().filter(|t| !a.contains(t)).cloned().collect()),
            (false, true) => other.and(self),
        }
    }
}

impl Visibility {
    /// The nodes both show.
    pub fn and(&self, other: &Visibility) -> Visibility {
        Visibility {
            labels: self
                .labels
                .iter()
                .filter(|l| other.labels.contains(l))
                .cloned()
                .collect(),
            unlabelled: self.unlabelled.and(&other.unlabelled),
        }
    }

    /// `restriction` applied on top of what `current` already shows.
    pub(crate) fn narrowed(current: Option<&Visibility>, restriction: &Visibility) -> Visibility {
        current.map_or_else(|| restriction.clone(), |c| c.and(restriction))
    }

    /// The JSON object the stores' queries read as one parameter.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "labels": self.labels,
            "allBut": self.unlabelled.all_but,
            "types": self.unlabelled.types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn intersections_show_what_both_show() {
        let a = Visibility {
            labels: strings(&["public", "internal"]),
            unlabelled: Types::all_but(strings(&["person"])),
        };
        let b = Visibility {
            labels: strings(&["public"]),
            unlabelled: Types::only(strings(&["note", "person"])),
        };
        assert_eq!(
            a.and(&b),
            Visibility {
                labels: strings(&["public"]),
                unlabelled: Types::only(strings(&["note"])),
            }
        );
        assert_eq!(a.and(&b), b.and(&a));
        let c = Types::all_but(strings(&["x"])).and(&Types::all_but(strings(&["y"])));
        assert_eq!(c, Types::all_but(strings(&["x", "y"])));
        let d = Types::only(strings(&["x", "y"])).and(&Types::only(strings(&["y"])));
        assert_eq!(d, Types::only(strings(&["y"])));
    }
}
