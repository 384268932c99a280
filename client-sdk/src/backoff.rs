//! Reconnect timing: full-jitter exponential backoff and the other timeouts, as plain numbers.

/// Reconnect and liveness settings. Every field has a sensible default ([`Options::default`]);
/// override the ones you need:
///
/// ```
/// let options = edgepush_client::Options { max_delay_ms: 60_000, ..Default::default() };
/// assert_eq!(options.min_delay_ms, 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The backoff cap of the first retry, in milliseconds (default 500). Retry `n` waits a random
    /// time in `[0, min(max_delay_ms, min_delay_ms * 2^(n-1)))` ("full jitter").
    pub min_delay_ms: u32,
    /// The largest backoff cap, in milliseconds (default 20 000).
    pub max_delay_ms: u32,
    /// A connection that stayed open this long, in milliseconds, counts as stable: the next drop
    /// starts the backoff schedule from the beginning again (default 10 000).
    pub stable_after_ms: u32,
    /// How long fetching a token, opening the socket and receiving the server's `welcome` may take
    /// together before the attempt counts as failed, in milliseconds (default 15 000).
    pub connect_timeout_ms: u32,
    /// How long to wait for the answer to a heartbeat ping before the socket counts as dead, in
    /// milliseconds (default 10 000).
    pub pong_timeout_ms: u32,
    /// Ping after this many milliseconds without any frame from the server. `None` (the default)
    /// uses the interval the server suggests in its `welcome` frame.
    pub heartbeat_ms: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            min_delay_ms: 500,
            max_delay_ms: 20_000,
            stable_after_ms: 10_000,
            connect_timeout_ms: 15_000,
            pong_timeout_ms: 10_000,
            heartbeat_ms: None,
        }
    }
}

impl Options {
    /// The delay before retry number `attempt` (1 for the first retry), given `random` in `[0, 1)`:
    /// full jitter over an exponentially growing cap, `random * min(max, min * 2^(attempt-1))`.
    pub fn backoff_delay_ms(&self, attempt: u32, random: f64) -> u32 {
        let cap = self.backoff_cap_ms(attempt);
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // `as` saturates; random < 1 keeps the result below the cap.
        (random * f64::from(cap)) as u32
    }

    /// The upper bound of the delay before retry number `attempt`.
    pub fn backoff_cap_ms(&self, attempt: u32) -> u32 {
        let doublings = attempt.saturating_sub(1).min(31);
        let cap = u64::from(self.min_delay_ms) << doublings;
        cap.min(u64::from(self.max_delay_ms.max(self.min_delay_ms))) as u32
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn caps_double_from_min_to_max() {
        let options = Options::default();
        let caps: Vec<u32> = (1..=9).map(|n| options.backoff_cap_ms(n)).collect();
        assert_eq!(
            caps,
            [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]
        );
        assert_eq!(options.backoff_cap_ms(u32::MAX), 20_000);
        assert_eq!(options.backoff_cap_ms(0), 500);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_cap() {
        let options = Options::default();
        assert_eq!(options.backoff_delay_ms(4, 0.0), 0);
        assert_eq!(options.backoff_delay_ms(4, 0.5), 2000);
        assert_eq!(options.backoff_delay_ms(4, 0.999_999), 3999);
        assert_eq!(options.backoff_delay_ms(4, f64::NAN), 0);
        assert_eq!(options.backoff_delay_ms(100, 0.5), 10_000);
    }

    #[test]
    fn a_max_below_the_min_means_the_min() {
        let options = Options {
            min_delay_ms: 1000,
            max_delay_ms: 10,
            ..Options::default()
        };
        assert_eq!(options.backoff_cap_ms(5), 1000);
    }
}
