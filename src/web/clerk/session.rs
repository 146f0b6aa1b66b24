//! Clerk sessions and login throttling, both in memory: a session is a random 256-bit
//! token in an `HttpOnly; SameSite=Strict` cookie, kept here only as its SHA-256, with its
//! own CSRF token; it ends after 30 idle minutes, 10 hours, a logout, or a change of the
//! clerk's password. A restart ends every session (clerks log in again), and clears the
//! lockouts (someone who can restart the service does not need to guess passwords).
//!
//! Owns no HTTP: the login handlers and the session check in `auth` use it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// A session idle this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, whatever happens.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(10 * 60 * 60);
/// Sessions kept at most; past this, the least recently used one ends.
const MAX_SESSIONS: usize = 512;

/// Failed logins for one username before it is locked.
pub const MAX_USER_FAILURES: u32 = 5;
/// Failed logins from one address before it is locked (password spraying over usernames).
pub const MAX_ADDRESS_FAILURES: u32 = 20;
/// How long a lock lasts, and the window failures are counted in.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Usernames and addresses tracked at most (unknown usernames count too).
const MAX_TRACKED: usize = 10_000;

/// A logged-in clerk, as a handler sees it.
#[derive(Debug, Clone)]
pub struct ClerkSession {
    pub username: String,
    pub name: String,
    pub csrf_token: String,
    /// SHA-256 of the password hash the clerk logged in with: a new password ends it.
    pub password_fingerprint: [u8; 32],
}

struct Entry {
    session: ClerkSession,
    created: Instant,
    last_seen: Instant,
}

/// Every open session, by the SHA-256 of its cookie token.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

/// A fresh random token: 32 bytes, hex.
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// SHA-256 of `text`.
pub fn fingerprint(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    out
}

impl Sessions {
    /// Opens a session; returns its cookie token.
    pub fn open(&self, session: ClerkSession, now: Instant) -> Option<String> {
        let token = random_token()?;
        let mut entries = self.lock();
        entries.retain(|_, entry| alive(entry, now));
        if entries.len() >= MAX_SESSIONS {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_seen)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            fingerprint(&token),
            Entry {
                session,
                created: now,
                last_seen: now,
            },
        );
        Some(token)
    }

    /// The session of a cookie token, if it is open; marks it used.
    pub fn find(&self, token: &str, now: Instant) -> Option<ClerkSession> {
        let key = fingerprint(token);
        let mut entries = self.lock();
        let entry = entries.get_mut(&key)?;
        if !alive(entry, now) {
            entries.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends the session of a cookie token.
    pub fn close(&self, token: &str) {
        self.lock().remove(&fingerprint(token));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A panic while holding the lock leaves the map consistent (every change is one
        // insert or remove), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn alive(entry: &Entry, now: Instant) -> bool {
    now.saturating_duration_since(entry.last_seen) < IDLE_TIMEOUT
        && now.saturating_duration_since(entry.created) < ABSOLUTE_TIMEOUT
}

/// Failures counted for one username or address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// Counts failed logins and locks usernames and addresses that fail too often.
#[derive(Default)]
pub struct LoginThrottle {
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    by_user: HashMap<String, Failures>,
    by_address: HashMap<IpAddr, Failures>,
}

impl LoginThrottle {
    /// How long `username` or `address` stays locked, if either is.
    pub fn locked_for(&self, username: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let state = self.lock();
        let remaining = |failures: Option<&Failures>| {
            failures
                .and_then(|failures| failures.locked_until)
                .and_then(|until| until.checked_duration_since(now))
                .filter(|remaining| !remaining.is_zero())
        };
        remaining(state.by_user.get(username)).max(remaining(state.by_address.get(&address)))
    }

    /// Counts a failed login.
    pub fn failed(&self, username: &str, address: IpAddr, now: Instant) {
        let mut state = self.lock();
        if state.by_user.len() >= MAX_TRACKED {
            state.by_user.retain(|_, failures| current(failures, now));
        }
        if state.by_address.len() >= MAX_TRACKED {
            state
                .by_address
                .retain(|_, failures| current(failures, now));
        }
        count(
            state
                .by_user
                .entry(username.to_string())
                .or_insert(fresh(now)),
            MAX_USER_FAILURES,
            now,
        );
        count(
            state.by_address.entry(address).or_insert(fresh(now)),
            MAX_ADDRESS_FAILURES,
            now,
        );
    }

    /// A successful login clears the username's count (not the address's: one right
    /// password does not excuse a spray from the same address).
    pub fn succeeded(&self, username: &str) {
        self.lock().by_user.remove(username);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn fresh(now: Instant) -> Failures {
    Failures {
        count: 0,
        first: now,
        locked_until: None,
    }
}

/// Whether failures still matter at `now` (in their window, or locking).
fn current(failures: &Failures, now: Instant) -> bool {
    now.saturating_duration_since(failures.first) < LOCKOUT
        || failures.locked_until.is_some_and(|until| until > now)
}

fn count(failures: &mut Failures, limit: u32, now: Instant) {
    if !current(failures, now) {
        *failures = fresh(now);
    }
    failures.count += 1;
    if failures.count >= limit {
        failures.locked_until = Some(now + LOCKOUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(username: &str) -> ClerkSession {
        ClerkSession {
            username: username.into(),
            name: String::new(),
            csrf_token: "c".into(),
            password_fingerprint: [0; 32],
        }
    }

    #[test]
    fn a_session_ends_when_idle_too_long_or_too_old_or_closed() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let token = sessions.open(session("a"), start).expect("open");
        assert_eq!(token.len(), 64);
        assert!(sessions.find("forged", start).is_none());
        let mut now = start;
        // Kept alive by use every 20 minutes, it still ends at 10 hours.
        while now.duration_since(start) + Duration::from_secs(20 * 60) < ABSOLUTE_TIMEOUT {
            now += Duration::from_secs(20 * 60);
            assert!(sessions.find(&token, now).is_some());
        }
        assert!(sessions.find(&token, start + ABSOLUTE_TIMEOUT).is_none());

        let token = sessions.open(session("b"), start).expect("open");
        assert!(
            sessions.find(&token, start + IDLE_TIMEOUT).is_none(),
            "idle"
        );
        let token = sessions.open(session("c"), start).expect("open");
        sessions.close(&token);
        assert!(sessions.find(&token, start).is_none(), "logged out");
    }

    #[test]
    fn five_failures_lock_a_username_and_twenty_lock_an_address() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = [192, 168, 1, 20].into();
        let now = Instant::now();
        for _ in 0..MAX_USER_FAILURES - 1 {
            throttle.failed("vanthu", address, now);
        }
        assert!(throttle.locked_for("vanthu", address, now).is_none());
        throttle.failed("vanthu", address, now);
        assert_eq!(throttle.locked_for("vanthu", address, now), Some(LOCKOUT));
        assert!(throttle
            .locked_for("vanthu", address, now + LOCKOUT)
            .is_none());
        // A success (only ever after a lock ran out: a locked name's password is never
        // checked) starts the count again.
        throttle.succeeded("vanthu");
        assert!(throttle.locked_for("vanthu", address, now).is_none());

        let sprayer: IpAddr = [192, 168, 1, 66].into();
        for n in 0..MAX_ADDRESS_FAILURES {
            throttle.failed(&format!("user{n}"), sprayer, now);
        }
        assert!(throttle.locked_for("someone-else", sprayer, now).is_some());
        assert!(throttle.locked_for("someone-else", address, now).is_none());
    }
}
