//! The gateway's notion of now, replaceable in tests (pacing, windows, day limits).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// The system clock, or a settable one for tests and drills.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    fixed_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// Real time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stays at `at` until [`Clock::set`] moves it.
    pub fn fixed(at: Timestamp) -> Self {
        Self {
            fixed_ms: Some(Arc::new(AtomicI64::new(at.as_millisecond()))),
        }
    }

    /// Moves a fixed clock (no effect on the system clock).
    pub fn set(&self, at: Timestamp) {
        if let Some(ms) = &self.fixed_ms {
            ms.store(at.as_millisecond(), Ordering::Relaxed);
        }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match &self.fixed_ms {
            None => Timestamp::now(),
            Some(ms) => Timestamp::from_millisecond(ms.load(Ordering::Relaxed))
                .unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }
}
