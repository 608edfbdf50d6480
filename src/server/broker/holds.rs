//! Name holds in process, for the memory broker: the same rules as the Redis keys with a
//! TTL (`redis/names.rs`), kept in a map that the broker's lock guards. Times are the
//! broker clock's monotonic readings ([`super::clock::Clock::elapsed`]).

use super::Holder;
use crate::message::DisplayName;
use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

/// The most names held at once. A hold is about 150 bytes with its place in the expiry
/// index, so this bounds the holds near 30 MiB; past it, the idlest hold goes (an expired
/// one first, as it is the idlest), so that a flood of sign-ins never locks anyone out:
/// it can only free the names nobody has used for longest.
pub const MAX_HOLDS: usize = 200_000;

pub struct Holds {
    /// A name's key ([`DisplayName::key`]: look-alikes share it) → its hold.
    by_name: HashMap<String, Hold>,
    /// Every hold by when it expires: the idlest first.
    by_expiry: BTreeSet<(Duration, String)>,
    capacity: usize,
}

impl Default for Holds {
    fn default() -> Self {
        Self::with_capacity(MAX_HOLDS)
    }
}

struct Hold {
    session_id: String,
    expires: Duration,
}

impl Holds {
    /// Holds for at most `capacity` names.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            by_name: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Puts (or replaces) a name's hold, in both maps.
    fn put(&mut self, key: String, hold: Hold) {
        if let Some(old) = self.by_name.remove(&key) {
            self.by_expiry.remove(&(old.expires, key.clone()));
        }
        self.by_expiry.insert((hold.expires, key.clone()));
        self.by_name.insert(key, hold);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.by_name.remove(key) {
            self.by_expiry.remove(&(old.expires, key.to_owned()));
        }
    }

    /// Claims `holder.name` for its session unless another live session holds it
    /// (`false`), and releases `previous` when the session held it and it is another
    /// name. When the holds are full, the idlest one goes to make room.
    pub fn claim(
        &mut self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        idle: Duration,
        now: Duration,
    ) -> bool {
        let key = holder.name.key();
        if let Some(hold) = self.by_name.get(&key)
            && hold.expires > now
            && hold.session_id != holder.session_id
        {
            return false;
        }
        if self.by_name.len() >= self.capacity
            && !self.by_name.contains_key(&key)
            && let Some((_, idlest)) = self.by_expiry.first().cloned()
        {
            self.remove(&idlest);
        }
        self.put(
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
                ..holder.clone()
            });
        }
        true
    }

    /// Puts back a hold kept on disk (the SQLite broker, at start): the name of `key`
    /// held by `session_id` until `expires`, as [`Clock::elapsed`](super::clock::Clock)
    /// reads.
    pub fn restore(&mut self, key: String, session_id: String, expires: Duration) {
        self.put(
            key,
            Hold {
                session_id,
                expires,
            },
        );
    }

    /// Ends the session's hold on its name, if it has it.
    pub fn release(&mut self, holder: &Holder) {
        let key = holder.name.key();
        if self
            .by_name
            .get(&key)
            .is_some_and(|hold| hold.session_id == holder.session_id)
        {
            self.remove(&key);
        }
    }

    /// Whether the session holds its name now; if so, the hold is extended.
    pub fn touch(&mut self, holder: &Holder, idle: Duration, now: Duration) -> bool {
        let key = holder.name.key();
        match self.by_name.get(&key) {
            Some(hold) if hold.session_id == holder.session_id && hold.expires > now => {
                let hold = Hold {
                    session_id: hold.session_id.clone(),
                    expires: now + idle,
                };
                self.put(key, hold);
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
            since: 0,
        }
    }

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn when_full_the_idlest_hold_goes_and_signing_in_still_works() {
        let mut holds = Holds::with_capacity(3);
        let at = |secs| Duration::from_secs(secs);
        for (i, name) in ["ann", "bob", "cy"].into_iter().enumerate() {
            holds.claim(&holder(name, name), None, IDLE, at(i as u64));
        }
        // Bob used his name since: Ann is the idlest now.
        assert!(holds.touch(&holder("bob", "bob"), IDLE, at(10)));
        assert!(
            holds.claim(&holder("dee", "dee"), None, IDLE, at(11)),
            "a full table never refuses a sign-in"
        );
        assert!(
            !holds.touch(&holder("ann", "ann"), IDLE, at(12)),
            "the idlest went"
        );
        for name in ["bob", "cy", "dee"] {
            assert!(holds.touch(&holder(name, name), IDLE, at(12)), "{name}");
        }
        assert_eq!((holds.by_name.len(), holds.by_expiry.len()), (3, 3));
    }

    #[test]
    fn a_name_is_held_by_one_session_compared_case_insensitively() {
        let (mut holds, now) = (Holds::default(), Duration::from_secs(1_000));
        assert!(holds.claim(&holder("Mason", "a"), None, IDLE, now));
        assert!(!holds.claim(&holder("mason", "b"), None, IDLE, now));
        assert!(holds.claim(&holder("MASON", "a"), None, IDLE, now));
        assert!(holds.touch(&holder("mason", "a"), IDLE, now));
        assert!(!holds.touch(&holder("mason", "b"), IDLE, now));
    }

    #[test]
    fn a_new_name_releases_the_old_and_sign_out_releases_the_current() {
        let (mut holds, now) = (Holds::default(), Duration::from_secs(1_000));
        holds.claim(&holder("ann", "a"), None, IDLE, now);
        let ann = DisplayName::parse("ann").unwrap();
        holds.claim(&holder("anna", "a"), Some(&ann), IDLE, now);
        assert!(!holds.touch(&holder("ann", "a"), IDLE, now));
        assert!(holds.claim(&holder("ann", "b"), None, IDLE, now));
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
        holds.claim(&holder("ann", "a"), None, IDLE, now);
        assert!(holds.touch(&holder("ann", "a"), IDLE, now + IDLE / 2));
        assert!(
            holds.touch(&holder("ann", "a"), IDLE, now + IDLE),
            "extended by use"
        );
        let later = now + IDLE * 3;
        assert!(!holds.touch(&holder("ann", "a"), IDLE, later));
        assert!(holds.claim(&holder("ann", "b"), None, IDLE, later));
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
                    let claim = holds.claim(&holder(raw, &session.to_string()), None, IDLE, now);
                    // Unicode TS #39: two strings look alike when their skeletons are equal.
                    match held.iter().find(|h| skeleton(h) == skeleton(&name) || h.key() == name.key()) {
                        Some(like) => prop_assert!(!claim, "{} while {} is held", name, like),
                        None => {
                            prop_assert!(claim, "{}", name);
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
