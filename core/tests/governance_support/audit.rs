//! Captures the core's audit records (tracing target `audit`) during a test.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Records logged on this thread until the guard is dropped.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_target(true)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// The audit records of `action`, parsed.
    pub fn records(&self, action: &str) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().expect("log buffer").clone()).expect("utf-8");
        text.lines()
            .filter(|line| line.contains(" audit: "))
            .filter_map(|line| serde_json::from_str(&line[line.find('{')?..]).ok())
            .filter(|record: &serde_json::Value| record["event.action"] == action)
            .collect()
    }
}
