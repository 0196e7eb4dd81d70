//! Delivers spooled records to the webhook as `{"events":[…]}` (upstream Mimir's envelope):
//! a batch goes out when `batch_size` records are waiting or `batch_interval_ms` after the first
//! of them arrived; failures are retried with doubling backoff, in order, until accepted.

use anyhow::Context;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::WebhookConfig;
use super::spool::SpoolReader;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);

pub struct Webhook {
    client: reqwest::Client,
    url: String,
    auth: Option<String>,
    gzip: bool,
    batch_size: usize,
    interval: Duration,
    max_backoff: Duration,
}

impl Webhook {
    pub fn new(cfg: &WebhookConfig) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} holds no usable certificate", ca.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            client: builder.build().context("audit webhook client")?,
            url: cfg.url.clone(),
            auth: cfg.auth_header.clone(),
            gzip: cfg.gzip,
            batch_size: cfg.batch_size,
            interval: Duration::from_millis(cfg.batch_interval_ms),
            max_backoff: Duration::from_millis(cfg.max_backoff_ms.max(1)),
        })
    }

    /// Runs until `stop` turns true, then delivers what is left (giving up at the first failure:
    /// the rest stays spooled for the next start).
    pub async fn run(self, mut spool: SpoolReader, mut stop: watch::Receiver<bool>) {
        let mut backoff = FIRST_BACKOFF;
        let mut waiting_since: Option<Instant> = None;
        loop {
            let stopping = *stop.borrow();
            let batch = match spool.peek(self.batch_size) {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!("audit webhook: cannot read the spool: {e}");
                    if stopping {
                        return;
                    }
                    tokio::time::sleep(self.max_backoff).await;
                    continue;
                }
            };
            if batch.lines.is_empty() {
                waiting_since = None;
                if stopping {
                    return;
                }
                tokio::select! {
                    _ = spool.appended() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if batch.lines.len() < self.batch_size && !stopping && since.elapsed() < self.interval {
                tokio::select! {
                    _ = spool.appended() => {}
                    _ = tokio::time::sleep_until(since + self.interval) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            match self.send(&batch.lines).await {
                Ok(()) => {
                    backoff = FIRST_BACKOFF;
                    waiting_since = None;
                    if let Err(e) = spool.commit(&batch) {
                        tracing::error!("audit webhook: cannot record delivery progress: {e}");
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        records = batch.lines.len(),
                        retry_in_ms = backoff.as_millis() as u64,
                        "audit webhook delivery failed: {e:#}"
                    );
                    if stopping {
                        tracing::warn!(
                            "audit webhook: undelivered records stay spooled for the next start"
                        );
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    async fn send(&self, lines: &[Vec<u8>]) -> anyhow::Result<()> {
        let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 12);
        body.extend_from_slice(b"{\"events\":[");
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(line);
        }
        body.extend_from_slice(b"]}");
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if self.gzip {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(&body)?;
            body = encoder.finish()?;
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        if let Some(auth) = &self.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let response = request.body(body).send().await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("receiver answered {status}");
        }
        Ok(())
    }
}
