//! In-memory GCRA buckets (governor), with bounded memory: idle keys are swept away and the
//! number of keys is capped.
//!
//! At the cap, a key that is not tracked yet is not added: every such key shares one overflow
//! bucket with the same quota. Under a flood of fresh keys (spoofed sources, random user names)
//! the flood throttles itself and callers already tracked keep their own budgets; the limit
//! fails closed rather than forgetting anyone. The cap is exact up to keys being inserted
//! concurrently, and the count is recomputed at every sweep.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{InsufficientCapacity, Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The answer of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Let through; `remaining` more requests would pass right now, the bucket is full again
    /// after `reset`.
    Allowed { remaining: u32, reset: Duration },
    /// Refused; the next request can pass after `retry_after`.
    Denied { retry_after: Duration },
}

/// governor's DashMap store with a key cap and a shared overflow state.
pub struct CappedStore<K: Hash + Eq + Clone> {
    map: DashMapStateStore<K>,
    overflow: InMemoryState,
    len: AtomicUsize,
    cap: usize,
}

impl<K: Hash + Eq + Clone> CappedStore<K> {
    fn new(cap: usize) -> Self {
        Self {
            map: DashMapStateStore::default(),
            overflow: InMemoryState::default(),
            len: AtomicUsize::new(0),
            cap,
        }
    }
}

impl<K: Hash + Eq + Clone> StateStore for CappedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.len.fetch_add(1, Ordering::Relaxed) < self.cap {
            let state = self.map.entry(key.clone()).or_default();
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.overflow.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for CappedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain_recent(drop_below);
        self.len.store(self.map.len(), Ordering::Relaxed);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// One limit: a keyed GCRA limiter over a capped store.
pub struct Bucket<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, CappedStore<K>, C, StateInformationMiddleware>,
    clock: C,
    interval: Duration,
    burst: u32,
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Bucket<K, C> {
    pub fn new(quota: Quota, max_keys: usize, clock: C) -> Self {
        let limiter = RateLimiter::<_, _, _, StateInformationMiddleware>::new(
            quota,
            CappedStore::new(max_keys),
            clock.clone(),
        );
        Self {
            limiter,
            clock,
            interval: quota.replenish_interval(),
            burst: quota.burst_size().get(),
        }
    }

    pub fn check(&self, key: &K) -> Outcome {
        self.check_n(key, NonZeroU32::MIN)
    }

    /// Charges `n` at once, or nothing. More than the burst never fits; callers refuse that up
    /// front, and here it is refused too, until the bucket would be full.
    pub fn check_n(&self, key: &K, n: NonZeroU32) -> Outcome {
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                Outcome::Allowed {
                    remaining,
                    reset: self.interval * (self.burst - remaining),
                }
            }
            Ok(Err(not_until)) => Outcome::Denied {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
            Err(InsufficientCapacity(_)) => Outcome::Denied {
                retry_after: self.interval * self.burst,
            },
        }
    }

    /// Drops keys whose bucket has refilled completely (indistinguishable from a new key).
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys tracked individually (the overflow bucket not counted).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::config::{Period, Rate};
    use governor::clock::FakeRelativeClock;

    #[test]
    fn burst_then_steady_rate() {
        let clock = FakeRelativeClock::default();
        let b = Bucket::new(Rate::new(10, Period::Second, 3).quota(), 10, clock.clone());
        for left in [2, 1, 0] {
            assert!(matches!(b.check(&1), Outcome::Allowed { remaining, .. } if remaining == left));
        }
        assert_eq!(
            b.check(&1),
            Outcome::Denied {
                retry_after: Duration::from_millis(100)
            }
        );
        clock.advance(Duration::from_millis(100));
        assert!(matches!(b.check(&1), Outcome::Allowed { .. }));
        assert!(matches!(b.check(&2), Outcome::Allowed { remaining: 2, .. }));
    }

    #[test]
    fn several_at_once_all_or_nothing() {
        let clock = FakeRelativeClock::default();
        let b = Bucket::new(Rate::new(10, Period::Second, 4).quota(), 10, clock.clone());
        let n = |n| NonZeroU32::new(n).unwrap();
        assert!(matches!(
            b.check_n(&1, n(3)),
            Outcome::Allowed { remaining: 1, .. }
        ));
        // Two do not fit in the one left, and nothing is charged: one still passes.
        assert_eq!(
            b.check_n(&1, n(2)),
            Outcome::Denied {
                retry_after: Duration::from_millis(100)
            }
        );
        assert!(matches!(b.check(&1), Outcome::Allowed { remaining: 0, .. }));
        assert!(matches!(b.check_n(&2, n(5)), Outcome::Denied { .. }));
        assert!(matches!(
            b.check_n(&2, n(4)),
            Outcome::Allowed { remaining: 0, .. }
        ));
    }

    #[test]
    fn cap_shares_an_overflow_bucket_and_sweep_frees_it() {
        let clock = FakeRelativeClock::default();
        let b = Bucket::new(Rate::new(1, Period::Second, 1).quota(), 2, clock.clone());
        assert!(matches!(b.check(&1), Outcome::Allowed { .. }));
        assert!(matches!(b.check(&2), Outcome::Allowed { .. }));
        assert_eq!(b.len(), 2);
        // Keys 3 and 4 are new at the cap: one shared bucket, so the second is refused.
        assert!(matches!(b.check(&3), Outcome::Allowed { .. }));
        assert!(matches!(b.check(&4), Outcome::Denied { .. }));
        assert_eq!(b.len(), 2);
        clock.advance(Duration::from_secs(2));
        b.sweep();
        assert_eq!(b.len(), 0);
        assert!(matches!(b.check(&4), Outcome::Allowed { .. }));
        assert_eq!(b.len(), 1);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// GCRA: within any window of length `w`, at most `burst + w / interval` requests
            /// pass, per tracked key and for all untracked keys together (the overflow bucket).
            #[test]
            fn never_more_than_rate_plus_burst_in_any_window(
                requests in 1u32..=20,
                per_minute in any::<bool>(),
                burst in 1u32..=5,
                // (time since the previous request in quarters of the interval, key, weight)
                steps in prop::collection::vec((0u32..8, 0u8..3, 1u32..=6), 1..120),
            ) {
                let per = if per_minute { Period::Minute } else { Period::Second };
                let rate = Rate::new(requests, per, burst);
                let interval = rate.interval();
                let clock = FakeRelativeClock::default();
                let b = Bucket::new(rate.quota(), 1, clock.clone());
                // The first key a check reaches the store with (n within the burst) is tracked.
                let tracked = steps.iter().find(|s| s.2 <= burst).map(|s| s.1);
                let mut now = Duration::ZERO;
                // Admitted (time, weight) per group: the tracked key, and the overflow bucket.
                let mut admitted: [Vec<(Duration, u32)>; 2] = [Vec::new(), Vec::new()];
                for (quarters, key, n) in steps {
                    let step = interval * quarters / 4;
                    clock.advance(step);
                    now += step;
                    let weight = NonZeroU32::new(n).unwrap();
                    if let Outcome::Allowed { .. } = b.check_n(&key, weight) {
                        admitted[usize::from(Some(key) != tracked)].push((now, n));
                    }
                }
                for group in &admitted {
                    for (i, (start, _)) in group.iter().enumerate() {
                        let mut total = 0;
                        for (at, n) in &group[i..] {
                            total += n;
                            let window = (*at - *start).as_nanos() / interval.as_nanos();
                            let bound = u128::from(burst) + window;
                            prop_assert!(
                                u128::from(total) <= bound,
                                "{} admitted in {:?} (interval {:?}, burst {})",
                                total, *at - *start, interval, burst
                            );
                        }
                    }
                }
            }
        }
    }
}
