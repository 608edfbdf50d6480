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
    /// A name's key ([`DisplayName::key`]: look-alikes share it) → its hold.
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
        let key = holder.name.key();
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
            && previous.key() != key
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
        let key = holder.name.key();
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
        match self.by_name.get_mut(&holder.name.key()) {
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

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use unicode_security::skeleton;

        /// Names of a few letters and of characters that look like them (Cyrillic and
        /// Greek, fullwidth, mathematical bold, digits, a Hangul filler), so that drawn
        /// names often look alike.
        const LOOK_ALIKE_NAMES: &str = "[MmAaSsOoNnIl10 \u{430}\u{43E}\u{41C}\u{410}\u{41E}\
            \u{39C}\u{391}\u{39F}\u{3BF}\u{FF2D}\u{FF41}\u{1D40C}\u{1D41A}\u{3164}]{1,5}";

        proptest! {
            #[test]
            fn of_names_that_look_alike_only_the_first_is_held(
                raws in proptest::collection::vec(prop_oneof![LOOK_ALIKE_NAMES, "\\PC{1,8}"], 1..24),
            ) {
                let (mut holds, now) = (Holds::default(), Duration::from_secs(1_000));
                let skeleton = |name: &DisplayName| skeleton(name.as_str()).collect::<String>();
                let mut held: Vec<DisplayName> = Vec::new();
                for (session, raw) in raws.iter().enumerate() {
                    let Ok(name) = DisplayName::parse(raw) else { continue };
                    let claim = holds.claim(&holder(raw, &session.to_string()), None, IDLE, now).unwrap();
                    // Unicode TS #39: two strings look alike when their skeletons are equal.
                    match held.iter().find(|h| skeleton(h) == skeleton(&name) || h.key() == name.key()) {
                        Some(like) => prop_assert_eq!(claim, Claim::Taken, "{} while {} is held", name, like),
                        None => {
                            prop_assert_eq!(claim, Claim::Granted, "{}", name);
                            held.push(name);
                        }
                    }
                }
                for (i, one) in held.iter().enumerate() {
                    for other in &held[i + 1..] {
                        prop_assert_ne!(skeleton(one), skeleton(other), "{} and {} are both held", one, other);
                    }
                }
            }
        }
    }
}
