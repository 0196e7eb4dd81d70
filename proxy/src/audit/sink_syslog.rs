//! The syslog sink: each chained record as one RFC 5424 message — MSGID `audit`, severity
//! `warning` for failures and `notice` otherwise, the JSON line (with `seq` and `hash`) as MSG —
//! over UDP, TCP or a unix socket (fasyslog). Like stdout it is a copy after the durable sink:
//! a receiver that is down loses messages there (UDP cannot tell), the file and the webhook
//! spool keep them. The connection is made on first use and again after a failure.

use fasyslog::format::SyslogContext;
use fasyslog::sender::{self, SyslogSender};
use fasyslog::{Facility, Severity};
use std::io;

use super::config::{SyslogConfig, SyslogTarget};

const MSGID: &str = "audit";
const FAILURE: &[u8] = br#""event.outcome":"failure""#;

pub(crate) struct SyslogSink {
    target: SyslogTarget,
    context: SyslogContext,
    sender: Option<SyslogSender>,
    /// The last send failed: logged once, until one succeeds again.
    down: bool,
}

impl SyslogSink {
    /// `cfg` is validated (`config::validate`).
    pub fn new(cfg: &SyslogConfig) -> anyhow::Result<Self> {
        let target = cfg.target().map_err(anyhow::Error::msg)?;
        let facility: Facility = cfg
            .facility
            .parse()
            .map_err(|()| anyhow::anyhow!("audit.syslog.facility {:?}", cfg.facility))?;
        let mut context = SyslogContext::new();
        context.facility(facility).appname(cfg.app_name.as_str());
        Ok(Self {
            target,
            context,
            sender: None,
            down: false,
        })
    }

    fn connect(&self) -> io::Result<SyslogSender> {
        Ok(match &self.target {
            SyslogTarget::Udp(addr) => SyslogSender::Udp(sender::udp("0.0.0.0:0", addr.as_str())?),
            SyslogTarget::Tcp(addr) => SyslogSender::Tcp(sender::tcp(addr.as_str())?),
            SyslogTarget::Unix(path) => sender::unix(path)?,
        })
    }

    /// Sends every line of `lines` (newline-terminated records), in order.
    pub fn send(&mut self, lines: &[u8]) -> io::Result<()> {
        let result = self.try_send(lines);
        match &result {
            Err(e) => {
                // Reconnect next time (a TCP receiver that restarted, a recreated socket).
                self.sender = None;
                if !std::mem::replace(&mut self.down, true) {
                    tracing::error!("audit syslog sink: {e}");
                }
            }
            Ok(()) if std::mem::replace(&mut self.down, false) => {
                tracing::warn!("audit syslog sink reachable again");
            }
            Ok(()) => {}
        }
        result
    }

    fn try_send(&mut self, lines: &[u8]) -> io::Result<()> {
        let sender = match &mut self.sender {
            Some(sender) => sender,
            None => self.sender.insert(self.connect()?),
        };
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let severity = if contains(line, FAILURE) {
                Severity::WARNING
            } else {
                Severity::NOTICE
            };
            // The writer produces the lines from JSON: they are UTF-8.
            let text = String::from_utf8_lossy(line);
            let message =
                self.context
                    .format_rfc5424(severity, Some(MSGID), Vec::new(), Some(text));
            sender.send_formatted(message.to_string().as_bytes())?;
        }
        sender.flush()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
