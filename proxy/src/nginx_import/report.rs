//! Where a directive came from, and what the importer says about the ones it could not carry
//! over (printed as `file:line: directive: message`).

use std::fmt;

/// A directive's place in the nginx configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub directive: String,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The directive's effect is not in the policy.
    Untranslated,
    /// Translated, with a difference worth knowing.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub at: Loc,
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.kind {
            Kind::Untranslated => "not translated",
            Kind::Note => "note",
        };
        write!(
            f,
            "{}: {}: {label}: {}",
            self.at, self.at.directive, self.message
        )
    }
}

#[derive(Debug, Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn untranslated(&mut self, at: &Loc, message: impl Into<String>) {
        self.push(at, Kind::Untranslated, message.into());
    }

    pub fn note(&mut self, at: &Loc, message: impl Into<String>) {
        self.push(at, Kind::Note, message.into());
    }

    fn push(&mut self, at: &Loc, kind: Kind, message: String) {
        self.0.push(Finding {
            at: at.clone(),
            kind,
            message,
        });
    }

    pub fn untranslated_count(&self) -> usize {
        self.0
            .iter()
            .filter(|f| f.kind == Kind::Untranslated)
            .count()
    }
}
