//! The policy file as parsed TOML with source spans, so that every error (syntax, type, unknown
//! key, semantic) can name the file, line, column and key path.

use super::error::{Issue, Origin};
use serde::de::DeserializeOwned;
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub struct Document<'a> {
    path: &'a Path,
    text: &'a str,
    root: Spanned<DeTable<'a>>,
}

impl<'a> Document<'a> {
    pub fn parse(path: &'a Path, text: &'a str) -> Result<Self, Issue> {
        match DeTable::parse(text) {
            Ok(root) => Ok(Self { path, text, root }),
            Err(e) => {
                let offset = e.span().map_or(text.len(), |s| s.start);
                Err(Issue {
                    origin: Origin::File {
                        path: path.to_owned(),
                        position: Some(position(text, offset)),
                    },
                    field: key_near(text, offset),
                    message: format!("TOML syntax error: {}", e.message()),
                })
            }
        }
    }

    /// Deserializes into `T` (whose fields deny unknown keys); the first type or unknown-key
    /// error is reported.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Issue> {
        let de = toml::Deserializer::from(self.root.clone());
        serde_path_to_error::deserialize(de).map_err(|e| {
            // The path ends at the offending key, unknown keys included; "." means the root.
            let field = e.path().to_string();
            let inner = e.into_inner();
            Issue {
                origin: self.origin(inner.span().map(|s| s.start)),
                field: (field != ".").then_some(field),
                message: inner.message().to_owned(),
            }
        })
    }

    /// The origin of `field` (`a.b` or `a.b[2]`) if the file sets it.
    pub fn locate(&self, field: &str) -> Option<Origin> {
        let span = self.span_of(field)?;
        Some(self.origin(Some(span.start)))
    }

    fn origin(&self, offset: Option<usize>) -> Origin {
        Origin::File {
            path: self.path.to_owned(),
            position: offset.map(|o| position(self.text, o)),
        }
    }

    fn span_of(&self, field: &str) -> Option<Range<usize>> {
        let mut table = self.root.get_ref();
        let mut found: Option<&Spanned<DeValue<'a>>> = None;
        for segment in field.split('.') {
            if let Some(value) = found {
                table = value.get_ref().as_table()?;
            }
            let (key, index) = match segment.split_once('[') {
                Some((key, rest)) => (key, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
                None => (segment, None),
            };
            let value = table.get(key)?;
            found = Some(match index {
                Some(i) => value.get_ref().as_array()?.get(i)?,
                None => value,
            });
        }
        found.map(Spanned::span)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// Best effort for syntax errors, where no key path exists yet: the closest `[table]` header above
/// the error plus the `key =` on its line.
fn key_near(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with(['#', '[']));
    let table = before[..line_start]
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('['))
        .and_then(|l| l.trim_start_matches('[').split(']').next())
        .map(str::trim);
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t.to_owned()),
        (None, k) => k.map(str::to_owned),
    }
}
