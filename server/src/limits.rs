//! What one token holder can make a room do, bounded: sockets per user, connects per user and
//! per token, and client frames per socket, each counted in one-minute windows with time passed
//! in. The room keeps the connect counters in memory (a flooding client keeps its room awake, so
//! they hold while they matter) and each socket's frame counter in its attachment.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The length of every counting window.
pub const WINDOW_MS: u64 = 60_000;

/// The bounds, from the settings (`MAX_SOCKETS_PER_USER`, `MAX_CONNECTS_PER_USER_PER_MINUTE`,
/// `MAX_CONNECTS_PER_TOKEN_PER_MINUTE`, `MAX_CLIENT_FRAMES_PER_MINUTE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open sockets per user; a connect beyond it is refused (the open ones are kept).
    pub sockets_per_user: u32,
    /// Connects per user per minute.
    pub connects_per_user: u32,
    /// Connects per token per minute.
    pub connects_per_token: u32,
    /// Client frames per socket per minute (the exact heartbeat is answered by the runtime and
    /// never counted).
    pub frames_per_socket: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sockets_per_user: 100,
            connects_per_user: 300,
            connects_per_token: 60,
            frames_per_socket: 20,
        }
    }
}

/// A count within a fixed window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// When the current window began, in milliseconds since the Unix epoch.
    start_ms: u64,
    /// What was admitted in it.
    count: u32,
}

impl Window {
    /// Counts one more at `now_ms`; `Err` with the milliseconds until the window ends when that
    /// is over `limit` (nothing is counted then).
    pub fn admit(&mut self, limit: u32, now_ms: u64) -> Result<(), u64> {
        if self.count == 0 || self.is_over(now_ms) || now_ms < self.start_ms {
            *self = Self {
                start_ms: now_ms,
                count: 0,
            };
        }
        if self.count >= limit {
            return Err(self.start_ms + WINDOW_MS - now_ms);
        }
        self.count += 1;
        Ok(())
    }

    fn is_over(&self, now_ms: u64) -> bool {
        now_ms >= self.start_ms.saturating_add(WINDOW_MS)
    }
}

/// Why a connect was refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user has `sockets_per_user` open sockets.
    TooManySockets,
    /// The user or the token connected too often; retry after this many milliseconds.
    TooOften {
        /// Until the window ends.
        retry_after_ms: u64,
    },
}

/// The connect counters of one user's room.
#[derive(Debug, Default)]
pub struct ConnectGate {
    user: Window,
    tokens: HashMap<String, Window>,
}

impl ConnectGate {
    /// Admits a connect of `token_id` (any string that tells tokens apart) while `open_sockets`
    /// sockets are open, or says why not. A refused connect still counts toward the rate, so a
    /// loop of refused connects stays refused.
    pub fn admit(
        &mut self,
        limits: &Limits,
        token_id: &str,
        open_sockets: usize,
        now_ms: u64,
    ) -> Result<(), Refused> {
        if self.tokens.len() > 256 {
            self.tokens.retain(|_, w| !w.is_over(now_ms));
        }
        let token = self.tokens.entry(token_id.to_owned()).or_default();
        let too_often = |retry_after_ms| Refused::TooOften { retry_after_ms };
        token
            .admit(limits.connects_per_token, now_ms)
            .map_err(too_often)?;
        self.user
            .admit(limits.connects_per_user, now_ms)
            .map_err(too_often)?;
        if open_sockets >= limits.sockets_per_user as usize {
            return Err(Refused::TooManySockets);
        }
        Ok(())
    }
}

/// Tokens a room refused for connecting too often, remembered by the edge until their window
/// ends, so that a client looping on connect is refused there, without a Durable Object request.
/// Per isolate: a best effort in front of the rooms' own counting, which stays exact.
#[derive(Debug, Default)]
pub struct RateLimitedTokens {
    until_ms: HashMap<String, u64>,
}

impl RateLimitedTokens {
    /// Remembers that `token_id` may not connect before `until_ms`.
    pub fn remember(&mut self, token_id: &str, until_ms: u64, now_ms: u64) {
        if self.until_ms.len() >= 1024 {
            self.until_ms.retain(|_, until| *until > now_ms);
        }
        if self.until_ms.len() < 1024 {
            self.until_ms.insert(token_id.to_owned(), until_ms);
        }
    }

    /// How long `token_id` must still wait, if it must.
    pub fn wait_ms(&self, token_id: &str, now_ms: u64) -> Option<u64> {
        self.until_ms
            .get(token_id)
            .filter(|until| **until > now_ms)
            .map(|until| until - now_ms)
    }
}

/// Whether a token issued at `iat` (seconds; none counts as the earliest time) is revoked by a
/// revocation at `revoked_at` (seconds): tokens issued at or before that second are.
pub fn is_revoked(iat: Option<i64>, revoked_at: Option<i64>) -> bool {
    revoked_at.is_some_and(|at| iat.unwrap_or(i64::MIN) <= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        sockets_per_user: 3,
        connects_per_user: 5,
        connects_per_token: 2,
        frames_per_socket: 4,
    };

    #[test]
    fn a_window_admits_up_to_its_limit_then_says_how_long_to_wait() {
        let mut window = Window::default();
        for i in 0..4 {
            assert_eq!(window.admit(4, 1_000 + i), Ok(()));
        }
        assert_eq!(window.admit(4, 11_000), Err(50_000));
        assert_eq!(window.admit(4, 60_999), Err(1));
        assert_eq!(window.admit(4, 61_000), Ok(()), "a new window");
    }

    #[test]
    fn connects_are_bounded_per_token_then_per_user_then_by_open_sockets() {
        let mut gate = ConnectGate::default();
        let now = 1_000_000;
        assert_eq!(gate.admit(&LIMITS, "t1", 0, now), Ok(()));
        assert_eq!(gate.admit(&LIMITS, "t1", 1, now), Ok(()));
        assert_eq!(
            gate.admit(&LIMITS, "t1", 2, now + 1),
            Err(Refused::TooOften {
                retry_after_ms: 59_999
            })
        );
        assert_eq!(gate.admit(&LIMITS, "t2", 2, now), Ok(()));
        assert_eq!(
            gate.admit(&LIMITS, "t3", 3, now),
            Err(Refused::TooManySockets),
            "the socket cap, the open sockets kept"
        );
        assert_eq!(gate.admit(&LIMITS, "t4", 0, now), Ok(()));
        assert!(
            matches!(
                gate.admit(&LIMITS, "t5", 0, now),
                Err(Refused::TooOften { .. })
            ),
            "five connects of the user this minute"
        );
        assert_eq!(gate.admit(&LIMITS, "t5", 0, now + WINDOW_MS), Ok(()));
    }

    #[test]
    fn old_token_counters_are_dropped() {
        let mut gate = ConnectGate::default();
        let limits = Limits {
            connects_per_user: u32::MAX,
            sockets_per_user: u32::MAX,
            ..LIMITS
        };
        for i in 0..300 {
            gate.admit(&limits, &i.to_string(), 0, 0).unwrap();
        }
        gate.admit(&limits, "late", 0, WINDOW_MS).unwrap();
        assert_eq!(gate.tokens.len(), 1);
    }

    #[test]
    fn the_edge_remembers_limited_tokens_until_their_window_ends() {
        let mut limited = RateLimitedTokens::default();
        limited.remember("t", 5_000, 1_000);
        assert_eq!(limited.wait_ms("t", 1_000), Some(4_000));
        assert_eq!(limited.wait_ms("other", 1_000), None);
        assert_eq!(limited.wait_ms("t", 5_000), None);
        for i in 0..2000 {
            limited.remember(&i.to_string(), 10_000, 6_000);
        }
        assert_eq!(limited.until_ms.len(), 1024, "bounded");
        limited.remember("late", 30_000, 20_000);
        assert_eq!(
            limited.wait_ms("late", 20_000),
            Some(10_000),
            "expired ones made room"
        );
    }

    #[test]
    fn tokens_issued_at_or_before_a_revocation_are_revoked() {
        assert!(!is_revoked(Some(100), None));
        assert!(is_revoked(Some(100), Some(100)));
        assert!(is_revoked(Some(99), Some(100)));
        assert!(!is_revoked(Some(101), Some(100)));
        assert!(is_revoked(None, Some(0)), "no iat: the earliest possible");
        assert!(!is_revoked(None, None));
    }
}
