//! Time, injected. The domain never reads the system clock: every aggregate receives a
//! [`Clock`] through its services, so tests and replays are deterministic.

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

/// The source of the current time for the domain.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// The current calendar date (UTC).
    fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }
}

/// A clock that stands still until it is moved: for tests, demos and replays.
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock at midnight UTC of the given date.
    pub fn on(date: NaiveDate) -> Self {
        Self::at(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
    }

    /// Moves the clock to a new instant.
    pub fn set(&self, now: DateTime<Utc>) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for FixedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedClock").field(&self.now()).finish()
    }
}
