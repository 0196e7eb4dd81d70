//! `mimir-core export` / `mimir-core import`: the whole graph as JSON lines, moved without
//! loss (ids, properties, timestamps, authors, embeddings) between the embedded store and
//! Neo4j. A file holds a header line, then every node, then every edge, each in
//! (created, id) order. Import needs an empty target and commits all or nothing.
//! `mimir-core qualify-users` rewrites such a file's user ids (see [`qualify_users`]).

mod embedded;
mod qualify;

pub use qualify::qualify_users;

use crate::config::{CoreConfig, StoreBackend};
use crate::embedding::DIMENSIONS;
use crate::store::neo4j::{Neo4jImport, Neo4jStore};
use crate::store::rules::check_name;
use crate::store::{Edge, Node};
use anyhow::{bail, Context};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

const FORMAT: &str = "mimir-graph";
const VERSION: u32 = 1;
/// Records read from Neo4j per query while exporting.
const PAGE: usize = 1000;

/// One line of an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Header {
        format: String,
        version: u32,
    },
    Node {
        #[serde(flatten)]
        node: Node,
        /// The stored embedding (`null` when the node has none).
        embedding: Option<Vec<f32>>,
    },
    Edge {
        #[serde(flatten)]
        edge: Edge,
    },
}

/// How many nodes and edges were moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub nodes: usize,
    pub edges: usize,
}

/// Writes every record of the store `config` selects to `out`, a new file (never overwritten:
/// it holds the whole graph, so it is created readable by its owner only). A failed export
/// removes its partial file.
pub async fn export(config: &CoreConfig, out: &Path) -> anyhow::Result<Counts> {
    let result = match config.store {
        StoreBackend::Embedded => {
            let db = embedded_path(config);
            if !db.is_file() {
                bail!("no embedded store at {}", db.display());
            }
            let mut sink = RecordWriter::create(out)?;
            tokio::task::spawn_blocking(move || {
                embedded::export(&db, &mut |record| sink.write(&record))?;
                sink.finish()
            })
            .await?
        }
        StoreBackend::Neo4j => {
            let store = Neo4jStore::connect(&config.neo4j_settings()?).await?;
            export_neo4j_to(&store, out).await
        }
    };
    if result.is_err() && out.is_file() {
        let _ = std::fs::remove_file(out);
    }
    result
}

/// Exports everything `store` holds to the new file `out`.
pub async fn export_neo4j_to(store: &Neo4jStore, out: &Path) -> anyhow::Result<Counts> {
    let mut sink = RecordWriter::create(out)?;
    let mut after = None;
    loop {
        let page = store.export_nodes(after.as_ref(), PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some((last.created.clone(), last.id.clone()));
        for (node, embedding) in page {
            sink.write(&Record::Node { node, embedding })?;
        }
    }
    let mut after = None;
    loop {
        let page = store.export_edges(after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.created.clone(), last.id.clone()));
        for edge in page {
            sink.write(&Record::Edge { edge })?;
        }
    }
    sink.finish()
}

/// Reads `input` into the (empty) store `config` selects, in one transaction.
pub async fn import(config: &CoreConfig, input: &Path) -> anyhow::Result<Counts> {
    let records = read_records(input)?;
    match config.store {
        StoreBackend::Embedded => {
            let db = embedded_path(config);
            std::fs::create_dir_all(&config.data_dir)?;
            tokio::task::spawn_blocking(move || embedded::import(&db, records)).await?
        }
        StoreBackend::Neo4j => {
            let store = Neo4jStore::connect(&config.neo4j_settings()?).await?;
            import_neo4j(&store, records).await
        }
    }
}

/// Imports `input` into `store` (see [`import`]).
pub async fn import_neo4j_from(store: &Neo4jStore, input: &Path) -> anyhow::Result<Counts> {
    import_neo4j(store, read_records(input)?).await
}

async fn import_neo4j(store: &Neo4jStore, records: RecordReader) -> anyhow::Result<Counts> {
    let mut import = store.begin_import().await?;
    match import_all(&mut import, records).await {
        Ok(counts) => {
            import.commit().await?;
            Ok(counts)
        }
        Err(e) => {
            import.abort().await;
            Err(e)
        }
    }
}

async fn import_all(import: &mut Neo4jImport, records: RecordReader) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    for item in records {
        let (line, record) = item?;
        let written = match &record {
            Record::Header { .. } => bail!("line {line}: a second header"),
            Record::Node { node, embedding } => {
                counts.nodes += 1;
                import.node(node, embedding.as_deref()).await
            }
            Record::Edge { edge } => {
                counts.edges += 1;
                import.edge(edge).await
            }
        };
        written.with_context(|| format!("line {line}"))?;
    }
    Ok(counts)
}

fn embedded_path(config: &CoreConfig) -> PathBuf {
    config.data_dir.join("mimir.sqlite3")
}

struct RecordWriter {
    out: BufWriter<File>,
    counts: Counts,
}

impl RecordWriter {
    /// Creates `path` (owner-only, never over an existing file) and writes the header.
    fn create(path: &Path) -> anyhow::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).with_context(|| {
            format!(
                "creating {} (an existing file is never overwritten)",
                path.display()
            )
        })?;
        let mut writer = Self {
            out: BufWriter::new(file),
            counts: Counts::default(),
        };
        writer.write(&Record::Header {
            format: FORMAT.into(),
            version: VERSION,
        })?;
        Ok(writer)
    }

    fn finish(mut self) -> anyhow::Result<Counts> {
        self.out.flush().context("writing the export file")?;
        self.out
            .get_ref()
            .sync_all()
            .context("syncing the export file")?;
        Ok(self.counts)
    }

    fn write(&mut self, record: &Record) -> anyhow::Result<()> {
        match record {
            Record::Node { .. } => self.counts.nodes += 1,
            Record::Edge { .. } => self.counts.edges += 1,
            Record::Header { .. } => {}
        }
        serde_json::to_writer(&mut self.out, record)?;
        self.out
            .write_all(b"\n")
            .context("writing the export file")?;
        Ok(())
    }
}

/// The records of an export file after its header, each checked, with its line number.
pub(crate) struct RecordReader {
    lines: std::io::Lines<BufReader<File>>,
    line: usize,
}

fn read_records(path: &Path) -> anyhow::Result<RecordReader> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = RecordReader {
        lines: BufReader::new(file).lines(),
        line: 0,
    };
    match reader.next() {
        Some(Ok((_, Record::Header { format, version })))
            if format == FORMAT && version == VERSION =>
        {
            Ok(reader)
        }
        Some(Err(e)) => Err(e),
        _ => bail!(
            "{} is not a {FORMAT} version {VERSION} file",
            path.display()
        ),
    }
}

impl Iterator for RecordReader {
    type Item = anyhow::Result<(usize, Record)>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.lines.next()?;
        self.line += 1;
        let line = self.line;
        Some(
            text.context("reading the import file")
                .and_then(|text| {
                    let record: Record = serde_json::from_str(&text)?;
                    check(&record)?;
                    Ok((line, record))
                })
                .with_context(|| format!("line {line}")),
        )
    }
}

fn check_timestamp(what: &str, value: &str) -> anyhow::Result<()> {
    DateTime::parse_from_rfc3339(value)
        .map(|_| ())
        .with_context(|| format!("{what} {value:?} is not an RFC 3339 timestamp"))
}

/// Stored properties are flat and never `null` (see `store::properties`).
fn check_properties(props: &crate::store::Properties) -> anyhow::Result<()> {
    if let Some((key, _)) = props.iter().find(|(_, v)| v.is_null() || v.is_object()) {
        bail!("property {key:?} is null or an object; stored properties are flat");
    }
    Ok(())
}

/// What the stores would refuse or could not have written: a record breaking these rules is
/// not an export of ours.
fn check(record: &Record) -> anyhow::Result<()> {
    match record {
        Record::Header { .. } => {}
        Record::Node { node, embedding } => {
            check_name("node id", &node.id)?;
            check_name("node type", &node.node_type)?;
            check_timestamp("created", &node.created)?;
            check_timestamp("updated", &node.updated)?;
            check_properties(&node.properties)?;
            if let Some(vector) = embedding {
                if vector.len() != DIMENSIONS || !vector.iter().all(|x| x.is_finite()) {
                    bail!("the embedding must be {DIMENSIONS} finite numbers");
                }
            }
        }
        Record::Edge { edge } => {
            check_name("edge id", &edge.id)?;
            check_name("edge type", &edge.edge_type)?;
            check_timestamp("created", &edge.created)?;
            check_properties(&edge.properties)?;
        }
    }
    Ok(())
}
