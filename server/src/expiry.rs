//! Closing sockets whose connect token expired, with one alarm for the earliest expiry.

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
    let exp_ms = |exp: i64| u64::try_from(exp).unwrap_or(0).saturating_mul(1000);
    let expired = (0..expires_at.len())
        .filter(|&i| exp_ms(expires_at[i]) <= now_ms)
        .collect();
    let next_alarm_ms = expires_at
        .iter()
        .map(|&exp| exp_ms(exp))
        .filter(|&ms| ms > now_ms)
        .min();
    ExpiryPlan {
        expired,
        next_alarm_ms,
    }
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
    fn negative_expiries_count_as_expired() {
        assert_eq!(plan(&[-1], 0).expired, [0]);
    }
}
