//! Trace and span ids that stay unique across snapshot restores.
//!
//! The SDK's generator keeps a random-number generator per thread, seeded once from the
//! operating system. An execution environment restored from a snapshot (a VM or process
//! snapshot a platform takes after initialisation) restores that state too: every environment restored from
//! one snapshot would produce the *same* sequence of ids. [`FreshIds`] is the same kind of
//! generator, plus a process-wide generation number: [`reseed_ids`] bumps it after a
//! restore, and each thread reseeds from the operating system on its next id.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::IdGenerator;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

/// Bumped by [`reseed_ids`]; a thread whose generator was seeded in an older generation
/// reseeds before its next id.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static RNG: RefCell<Option<(u64, SmallRng)>> = const { RefCell::new(None) };
}

/// Makes every thread reseed its id generator from the operating system before its next
/// id. Call it after the process was restored from a snapshot (a platform crate's restore
/// hook does).
///
/// ```
/// use opentelemetry_sdk::trace::IdGenerator as _;
/// use otel_faas_core::ids::{FreshIds, reseed_ids};
///
/// let ids = FreshIds::random();
/// let before = ids.new_trace_id();
/// reseed_ids();
/// assert_ne!(ids.new_trace_id(), before);
/// ```
pub fn reseed_ids() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn with_rng<T>(f: impl FnOnce(&mut SmallRng) -> T) -> T {
    RNG.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = GENERATION.load(Ordering::Acquire);
        match slot.as_mut() {
            Some((seeded_in, rng)) if *seeded_in == generation => f(rng),
            _ => {
                let (_, rng) = slot.insert((generation, SmallRng::from_os_rng()));
                f(rng)
            }
        }
    })
}

/// Random trace and span ids (W3C), or trace ids whose first 32 bits are the epoch seconds
/// (a format some back ends require); reseeded by [`reseed_ids`]. The pipeline uses it by
/// default.
///
/// ```
/// use opentelemetry_sdk::trace::IdGenerator as _;
/// use otel_faas_core::ids::FreshIds;
///
/// let trace_id = FreshIds::epoch_prefixed().new_trace_id().to_string();
/// let seconds = u64::from_str_radix(&trace_id[..8], 16).unwrap();
/// assert!(seconds > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreshIds {
    epoch_prefixed: bool,
}

impl FreshIds {
    /// Random 128-bit trace ids.
    pub fn random() -> Self {
        Self {
            epoch_prefixed: false,
        }
    }

    /// Trace ids that start with the epoch seconds, then 96 random bits.
    pub fn epoch_prefixed() -> Self {
        Self {
            epoch_prefixed: true,
        }
    }
}

impl IdGenerator for FreshIds {
    fn new_trace_id(&self) -> TraceId {
        with_rng(|rng| {
            loop {
                let random: u128 = rng.random();
                let id = if self.epoch_prefixed {
                    let seconds = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() & 0xffff_ffff);
                    (u128::from(seconds) << 96) | (random & ((1 << 96) - 1))
                } else {
                    random
                };
                if id != 0 {
                    return TraceId::from(id);
                }
            }
        })
    }

    fn new_span_id(&self) -> SpanId {
        with_rng(|rng| {
            loop {
                let id: u64 = rng.random();
                if id != 0 {
                    return SpanId::from(id);
                }
            }
        })
    }
}
