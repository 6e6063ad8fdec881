//! Clocks. The engine reads time only here, so tests and simulations replace it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock moved by hand, for tests and simulations. It never goes backwards.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

/// A manual clock was asked to go backwards.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the clock cannot go backwards: it is {now}, asked for {requested}")]
pub struct ClockError {
    /// The clock's time.
    pub now: DateTime<Utc>,
    /// The time asked for.
    pub requested: DateTime<Utc>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A DateTime cannot be left half-written, so a poisoned lock still holds a valid time.
        self.now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the time.
    ///
    /// # Errors
    ///
    /// [`ClockError`] if `to` is before the clock's time; the clock is unchanged.
    pub fn set(&self, to: DateTime<Utc>) -> Result<(), ClockError> {
        let mut now = self.guard();
        if to < *now {
            return Err(ClockError {
                now: *now,
                requested: to,
            });
        }
        *now = to;
        Ok(())
    }

    /// Moves the time forward.
    ///
    /// # Errors
    ///
    /// [`ClockError`] if `by` is negative; the clock is unchanged.
    pub fn advance(&self, by: Duration) -> Result<DateTime<Utc>, ClockError> {
        let mut now = self.guard();
        let to = *now + by;
        if by < Duration::zero() {
            return Err(ClockError {
                now: *now,
                requested: to,
            });
        }
        *now = to;
        Ok(to)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.guard()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
