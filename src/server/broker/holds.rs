//! Name holds in process, for the memory broker: the same rules as the Redis keys with a
//! TTL (`redis/names.rs`), kept in a map that the broker's lock guards. Times are the
//! broker clock's monotonic readings ([`super::clock::Clock::elapsed`]).

use super::{BrokerError, Claim, Holder};
use crate::message::DisplayName;
use anyhow::anyhow;
use std::{collections::HashMap, time::Duration};

/// The most names held at once. A hold is about 100 bytes, so this bounds the map near
/// 20 MiB; past it, expired holds are swept, and if none has expired a new sign-in
/// answers 503 until one does (sign-ins are also limited per client address).
pub const MAX_HOLDS: usize = 200_000;

#[derive(Default)]
pub struct Holds {
    /// Canonical name → its hold.
    by_name: HashMap<String, Hold>,
}

struct Hold {
    session_id: String,
    expires: Duration,
}

impl Holds {
    /// Claims `holder.name` for its session unless another live session holds it, and
    /// releases `previous` when the session held it and it is another name.
    pub fn claim(
        &mut self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        idle: Duration,
        now: Duration,
    ) -> Result<Claim, BrokerError> {
        let key = holder.name.canonical();
        if let Some(hold) = self.by_name.get(&key)
            && hold.expires > now
            && hold.session_id != holder.session_id
        {
            return Ok(Claim::Taken);
        }
        if self.by_name.len() >= MAX_HOLDS && !self.by_name.contains_key(&key) {
            self.by_name.retain(|_, hold| hold.expires > now);
            if self.by_name.len() >= MAX_HOLDS {
                return Err(BrokerError::Unavailable(anyhow!(
                    "{MAX_HOLDS} names are held; no room for another"
                )));
            }
        }
        self.by_name.insert(
            key.clone(),
            Hold {
                session_id: holder.session_id.clone(),
                expires: now + idle,
            },
        );
        if let Some(previous) = previous
            && previous.canonical() != key
        {
            self.release(&Holder {
                name: previous.clone(),
                session_id: holder.session_id.clone(),
            });
        }
        Ok(Claim::Granted)
    }

    /// Ends the session's hold on its name, if it has it.
    pub fn release(&mut self, holder: &Holder) {
        let key = holder.name.canonical();
        if self
            .by_name
            .get(&key)
            .is_some_and(|hold| hold.session_id == holder.session_id)
        {
            self.by_name.remove(&key);
        }
    }

    /// Whether the session holds its name now; if so, the hold is extended.
    pub fn touch(&mut self, holder: &Holder, idle: Duration, now: Duration) -> bool {
        match self.by_name.get_mut(&holder.name.canonical()) {
            Some(hold) if hold.session_id == holder.session_id && hold.expires > now => {
                hold.expires = now + idle;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(name: &str, session: &str) -> Holder {
        Holder {
            name: DisplayName::parse(name).unwrap(),
            session_id: session.into(),
        }
    }

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn a_name_is_held_by_one_session_compared_case_insensitively() {
        let (mut holds, now) = (Holds::default(), Duration::from_secs(1_000));
        assert_eq!(
            holds.claim(&holder("Mason", "a"), None, IDLE, now).unwrap(),
            Claim::Granted
        );
        assert_eq!(
            holds.claim(&holder("mason", "b"), None, IDLE, now).unwrap(),
            Claim::Taken
        );
        assert_eq!(
            holds.claim(&holder("MASON", "a"), None, IDLE, now).unwrap(),
            Claim::Granted
        );
        assert!(holds.touch(&holder("mason", "a"), IDLE, now));
        assert!(!holds.touch(&holder("mason", "b"), IDLE, now));
    }

    #[test]
    fn a_new_name_releases_the_old_and_sign_out_releases_the_current() {
        let (mut holds, now) = (Holds::default(), Duration::from_secs(1_000));
        holds.claim(&holder("ann", "a"), None, IDLE, now).unwrap();
        let ann = DisplayName::parse("ann").unwrap();
        holds
            .claim(&holder("anna", "a"), Some(&ann), IDLE, now)
            .unwrap();
        assert!(!holds.touch(&holder("ann", "a"), IDLE, now));
        assert_eq!(
            holds.claim(&holder("ann", "b"), None, IDLE, now).unwrap(),
            Claim::Granted
        );
        holds.release(&holder("anna", "zzz"));
        assert!(
            holds.touch(&holder("anna", "a"), IDLE, now),
            "only the holder releases"
        );
        holds.release(&holder("anna", "a"));
        assert!(!holds.touch(&holder("anna", "a"), IDLE, now));
    }

    #[test]
    fn an_unused_hold_expires_and_use_extends_it() {
        let (mut holds, now) = (Holds::default(), Duration::from_secs(1_000));
        holds.claim(&holder("ann", "a"), None, IDLE, now).unwrap();
        assert!(holds.touch(&holder("ann", "a"), IDLE, now + IDLE / 2));
        assert!(
            holds.touch(&holder("ann", "a"), IDLE, now + IDLE),
            "extended by use"
        );
        let later = now + IDLE * 3;
        assert!(!holds.touch(&holder("ann", "a"), IDLE, later));
        assert_eq!(
            holds.claim(&holder("ann", "b"), None, IDLE, later).unwrap(),
            Claim::Granted
        );
        assert!(!holds.touch(&holder("ann", "a"), IDLE, later), "taken over");
    }
}
