//! Where each field of the loaded configuration came from, for validation messages.

use crate::settings::{Document, Issue, Origin};

/// Answers "where did this field's value come from?" for validation messages.
pub(crate) struct Origins<'a> {
    pub(crate) doc: Option<&'a Document<'a>>,
    /// Field (e.g. `headers.trusted_proxies`) → variable that set it.
    pub(crate) env: Vec<(&'static str, String)>,
}

impl Origins<'_> {
    pub(crate) fn issue(&self, field: &str, message: String) -> Issue {
        Issue {
            origin: self.of(field),
            field: Some(field.to_owned()),
            message,
        }
    }

    fn of(&self, field: &str) -> Origin {
        // `headers.trusted_proxies[1]` was set by whoever set `headers.trusted_proxies`.
        let base = field.split('[').next().unwrap_or(field);
        if let Some((_, var)) = self.env.iter().find(|(f, _)| *f == base) {
            return Origin::Env(var.clone());
        }
        self.doc
            .and_then(|doc| doc.locate(field))
            .unwrap_or(Origin::Default)
    }
}
