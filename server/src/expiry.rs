//! Closing sockets whose connect token expired, with one alarm for the earliest expiry.
//!
//! A token may expire far in the future (`exp` = 9999999999 or `i64::MAX` are common "never"
//! values), past the dates the runtime's alarms support. Alarms are therefore never set more
//! than [`MAX_ALARM_AHEAD_MS`] ahead: when such an alarm fires, nothing has expired yet and the
//! next one is planned the same way.

/// The latest token expiry a socket's attachment holds, in seconds: the runtime stores it as a
/// JavaScript number, exact up to 2^53 − 1. A later `exp` means the same: never, for any socket.
pub const LATEST_EXP: i64 = 9_007_199_254_740_991;

/// The furthest ahead an alarm is set: 30 days.
pub const MAX_ALARM_AHEAD_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Which sockets to close now and when to wake up next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryPlan {
    /// Indexes (into the list given) of sockets whose token has expired.
    pub expired: Vec<usize>,
    /// When the next token expires, in milliseconds since the Unix epoch.
    pub next_alarm_ms: Option<u64>,
}

/// Plans token expiry for sockets whose tokens expire at `expires_at` (seconds), at `now_ms`.
/// A token expires at the first millisecond of its `exp` second.
pub fn plan(expires_at: &[i64], now_ms: u64) -> ExpiryPlan {
    let expired = (0..expires_at.len())
        .filter(|&i| exp_ms(expires_at[i]) <= now_ms)
        .collect();
    let next_alarm_ms = expires_at
        .iter()
        .filter(|&&exp| exp_ms(exp) > now_ms)
        .map(|&exp| alarm_for(exp, now_ms))
        .min();
    ExpiryPlan {
        expired,
        next_alarm_ms,
    }
}

/// When to wake up for a token that expires at `exp` (seconds): at its expiry, or
/// [`MAX_ALARM_AHEAD_MS`] from now if that is sooner. Always a time the runtime accepts.
pub fn alarm_for(exp: i64, now_ms: u64) -> u64 {
    exp_ms(exp).clamp(now_ms + 1, now_ms.saturating_add(MAX_ALARM_AHEAD_MS))
}

/// `exp` in milliseconds; negative values count as the epoch.
fn exp_ms(exp: i64) -> u64 {
    u64::try_from(exp).unwrap_or(0).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_tokens_close_and_the_next_one_sets_the_alarm() {
        let plan = plan(&[10, 5, 30, 20], 10_000);
        assert_eq!(plan.expired, [0, 1]);
        assert_eq!(plan.next_alarm_ms, Some(20_000));
    }

    #[test]
    fn no_sockets_means_no_alarm() {
        assert_eq!(
            plan(&[], 1),
            ExpiryPlan {
                expired: vec![],
                next_alarm_ms: None
            }
        );
    }

    #[test]
    fn far_future_expiries_set_an_alarm_the_runtime_accepts_and_replan() {
        let now = 1_700_000_000_000;
        for exp in [
            9_999_999_999,
            i64::MAX,
            9_007_199_254_740_991,
            253_402_300_799,
        ] {
            let at = alarm_for(exp, now);
            assert_eq!(at, now + MAX_ALARM_AHEAD_MS, "exp {exp}");
            // When it fires, nothing has expired and the next alarm is as far again.
            let later = plan(&[exp], at);
            assert!(later.expired.is_empty());
            assert_eq!(later.next_alarm_ms, Some(at + MAX_ALARM_AHEAD_MS));
        }
        assert_eq!(alarm_for(1_700_000_100, now), 1_700_000_100_000);
        assert_eq!(
            plan(&[i64::MAX, 1_700_000_100], now).next_alarm_ms,
            Some(1_700_000_100_000)
        );
    }

    #[test]
    fn negative_expiries_count_as_expired() {
        assert_eq!(plan(&[-1], 0).expired, [0]);
    }
}
