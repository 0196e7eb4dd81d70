//! `mimir-core qualify-users`: rewrites an export file written while user ids did not yet name
//! their source (docs/identity-assertion.md, "Migration"). `apikey:<name>` becomes
//! `apikey|<name>` and every other id `<source>|<id>`, wherever the graph holds one: authors
//! (`created_by`, `updated_by`), the `subject` property, and the ids of consent records, which
//! are derived from their user's id.

use super::{read_records, Counts, Record, RecordWriter};
use crate::embedding;
use crate::governance::{consent, SUBJECT_KEY};
use crate::identity::assertion::SOURCE_SEPARATOR;
use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// How API keys' users were named before.
const LEGACY_API_KEY_PREFIX: &str = "apikey:";
const API_KEY_SOURCE: &str = "apikey";

/// Writes `input` to the new file `out` with every user id qualified by `source` (API keys' by
/// `apikey`). A failure removes the partial file.
pub fn qualify_users(input: &Path, out: &Path, source: &str) -> anyhow::Result<Counts> {
    let usable = !source.is_empty()
        && !source.contains(SOURCE_SEPARATOR)
        && source.bytes().all(|b| b.is_ascii_graphic());
    if !usable {
        bail!("--source {source:?} must be printable ASCII without spaces or '{SOURCE_SEPARATOR}'");
    }
    let mut records = read_records(input)?;
    let mut sink = RecordWriter::create(out)?;
    let mut qualify = Qualify {
        source,
        renamed: HashMap::new(),
    };
    let written = records
        .try_for_each(|item| {
            let (line, record) = item?;
            let record = qualify.record(record);
            sink.write(&record).with_context(|| format!("line {line}"))
        })
        .and_then(|()| sink.finish());
    if written.is_err() {
        let _ = std::fs::remove_file(out);
    }
    written
}

struct Qualify<'a> {
    source: &'a str,
    /// Consent records' old ids → new ids, for the edges that come after all nodes.
    renamed: HashMap<String, String>,
}

impl Qualify<'_> {
    fn user(&self, id: &str) -> String {
        match id.strip_prefix(LEGACY_API_KEY_PREFIX) {
            Some(name) => format!("{API_KEY_SOURCE}{SOURCE_SEPARATOR}{name}"),
            None => format!("{}{SOURCE_SEPARATOR}{id}", self.source),
        }
    }

    fn record(&mut self, record: Record) -> Record {
        match record {
            Record::Node {
                mut node,
                mut embedding,
            } => {
                node.created_by = node.created_by.map(|user| self.user(&user));
                node.updated_by = node.updated_by.map(|user| self.user(&user));
                if let Some(Value::String(subject)) = node.properties.get_mut(SUBJECT_KEY) {
                    if node.node_type == consent::NODE_TYPE && node.id == consent::node_id(subject)
                    {
                        let id = consent::node_id(&self.user(subject));
                        self.renamed
                            .insert(std::mem::replace(&mut node.id, id.clone()), id);
                    }
                    *subject = self.user(subject);
                    // The subject is part of the text the embedding is computed from.
                    if embedding.is_some() {
                        let text = embedding::node_text(&node.node_type, &node.properties);
                        embedding = Some(embedding::embed(&text));
                    }
                }
                Record::Node { node, embedding }
            }
            Record::Edge { mut edge } => {
                edge.created_by = edge.created_by.map(|user| self.user(&user));
                for end in [&mut edge.source, &mut edge.target] {
                    if let Some(id) = self.renamed.get(end.as_str()) {
                        end.clone_from(id);
                    }
                }
                Record::Edge { edge }
            }
            header @ Record::Header { .. } => header,
        }
    }
}
