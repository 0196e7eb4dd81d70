//! The same GCRA limits kept in Redis, so that every replica spends one budget.
//!
//! One Lua script (sent with EVALSHA, loaded on NOSCRIPT) checks all limits of a request
//! against Redis' own clock and charges them only if every one has room for the request's cost
//! in it (the calls of a tool in an MCP batch; 1 otherwise), as governor's `check_key_n` does
//! in memory. A bucket is one
//! string key holding its theoretical arrival time in microseconds, expiring when the bucket
//! is full again, so idle keys cost Redis nothing. Key names carry a hash of the caller, never
//! a user name, key id or address in clear.
//!
//! When Redis does not answer within `timeout_ms`, it is left alone for `retry_ms` and the
//! caller applies the limits' `on_error` policy meanwhile, so an outage costs each request at
//! most one timeout per retry period, not one per request.

use super::config::RedisConfig;
use super::{Key, LimitSpec};
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

const GCRA: &str = r#"
-- KEYS[i]: a bucket; ARGV[3i-2]: emission interval t (µs); ARGV[3i-1]: tolerance tau (µs);
-- ARGV[3i]: cost n, charged whole or not at all.
-- Returns {1, i, remaining, reset_us} for the tightest bucket, or {0, i, 0, retry_us}.
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local tats = {}
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[3 * i - 2])
  local tau = tonumber(ARGV[3 * i - 1])
  local extra = t * (tonumber(ARGV[3 * i]) - 1)
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  if now < tat + extra - tau then
    return {0, i, 0, tat + extra - tau - now}
  end
  tats[i] = tat + extra + t
end
local best, best_left, best_reset = 0, -1, 0
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[3 * i - 2])
  local tau = tonumber(ARGV[3 * i - 1])
  local ttl = tats[i] - now
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil(ttl / 1000))
  local left = math.floor((now + tau + t - tats[i]) / t)
  if best_left < 0 or left < best_left then
    best, best_left, best_reset = i, left, ttl
  end
end
return {1, best, best_left, best_reset}
"#;

/// One bucket to charge: the limit, the key and the cost.
pub type Item<'a> = (&'a LimitSpec, &'a Key, NonZeroU32);

/// Redis' verdict; `index` points into the checked items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Allowed {
        index: usize,
        remaining: u32,
        reset: Duration,
    },
    Denied {
        index: usize,
        retry_after: Duration,
    },
}

pub struct Shared {
    client: Client,
    config: ConnectionManagerConfig,
    /// Created on first use, inside the runtime that serves requests.
    conn: OnceCell<ConnectionManager>,
    script: Script,
    prefix: String,
    timeout: Duration,
    retry: Duration,
    down_until: Mutex<Option<Instant>>,
}

impl Shared {
    pub fn new(cfg: &RedisConfig) -> Result<Self, String> {
        let client = Client::open(cfg.url.as_str()).map_err(|_| "not a Redis URL".to_owned())?;
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(cfg.retry_ms.max(1)));
        Ok(Self {
            client,
            config,
            conn: OnceCell::new(),
            script: Script::new(GCRA),
            prefix: cfg.key_prefix.clone(),
            timeout,
            retry: Duration::from_millis(cfg.retry_ms),
            down_until: Mutex::new(None),
        })
    }

    /// Each item: the limit, the key and the cost. `Err(retry_after)` when Redis is unavailable.
    pub async fn check(&self, items: &[Item<'_>]) -> Result<Answer, Duration> {
        if let Some(until) = *self.down_until.lock().expect("not poisoned") {
            let now = Instant::now();
            if now < until {
                return Err(until - now);
            }
        }
        let outcome = tokio::time::timeout(self.timeout, self.eval(items)).await;
        let failure = match outcome {
            Ok(Ok(reply)) => match decode(&reply, items.len()) {
                Some(answer) => {
                    *self.down_until.lock().expect("not poisoned") = None;
                    return Ok(answer);
                }
                None => "unexpected script reply".to_owned(),
            },
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        let mut down = self.down_until.lock().expect("not poisoned");
        if down.is_none() {
            tracing::warn!(error = %failure, "Redis rate-limit backend unavailable; applying on_error");
        }
        *down = Some(Instant::now() + self.retry);
        Err(self.retry.max(Duration::from_secs(1)))
    }

    async fn eval(&self, items: &[Item<'_>]) -> ::redis::RedisResult<Vec<i64>> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            })
            .await?;
        let mut invocation = self.script.prepare_invoke();
        for (spec, key, cost) in items {
            let t = (spec.rate.interval().as_micros() as u64).max(1);
            let tau = t * u64::from(spec.rate.burst.get() - 1);
            invocation
                .key(self.key_name(spec, key))
                .arg(t)
                .arg(tau)
                .arg(cost.get());
        }
        invocation.invoke_async(&mut conn.clone()).await
    }

    fn key_name(&self, spec: &LimitSpec, key: &Key) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &key.encode());
        format!(
            "{}{}:{}",
            self.prefix,
            spec.name,
            crate::hexstr::encode(&digest.as_ref()[..16])
        )
    }
}

fn decode(reply: &[i64], items: usize) -> Option<Answer> {
    let [allowed, index, remaining, micros] = *reply else {
        return None;
    };
    let index = usize::try_from(index).ok()?.checked_sub(1)?;
    if index >= items {
        return None;
    }
    let time = Duration::from_micros(u64::try_from(micros).ok()?);
    Some(match allowed {
        1 => Answer::Allowed {
            index,
            remaining: u32::try_from(remaining).ok()?,
            reset: time,
        },
        0 => Answer::Denied {
            index,
            retry_after: time,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            decode(&[1, 2, 5, 1_500_000], 2),
            Some(Answer::Allowed {
                index: 1,
                remaining: 5,
                reset: Duration::from_millis(1500)
            })
        );
        assert_eq!(
            decode(&[0, 1, 0, 300], 1),
            Some(Answer::Denied {
                index: 0,
                retry_after: Duration::from_micros(300)
            })
        );
        for bad in [
            &[1, 3, 0, 0][..],
            &[1, 0, 0, 0],
            &[2, 1, 0, 0],
            &[1, 1, -1, 0],
            &[1],
        ] {
            assert_eq!(decode(bad, 2), None, "{bad:?}");
        }
    }
}
