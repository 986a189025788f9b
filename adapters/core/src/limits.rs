//! Sliding-window rate limits in memory (web chat messages per session and
//! sessions per address, inbox sign-ins per login and address). Pure
//! apart from the map: the caller passes the time, so tests need no sleep.
//! Each replica counts on its own; with N replicas behind a balancer the
//! effective limit is up to N times the configured one.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// At most `limit` events per `window` for each key.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: u32,
    window: Duration,
    seen: HashMap<String, VecDeque<Instant>>,
}

impl SlidingWindow {
    /// A limiter allowing `limit` events per `window` per key.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: HashMap::new(),
        }
    }

    /// Counts an event for `key` at `now` if it is allowed; otherwise says
    /// how long until the oldest counted event leaves the window.
    pub fn try_take(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let window = self.window;
        let times = self.seen.entry(key.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit as usize {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        // Forget idle keys now and then so the map does not grow forever.
        if self.seen.len() > 10_000 {
            self.seen
                .retain(|_, t| t.back().is_some_and(|l| now.duration_since(*l) < window));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_refuses_then_recovers() {
        let mut w = SlidingWindow::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(w.try_take("a", t0).is_ok());
        assert!(w.try_take("a", t0 + Duration::from_secs(1)).is_ok());
        let wait = w.try_take("a", t0 + Duration::from_secs(2)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(58));
        // Another key is not affected.
        assert!(w.try_take("b", t0 + Duration::from_secs(2)).is_ok());
        assert!(w.try_take("a", t0 + Duration::from_secs(60)).is_ok());
    }
}
