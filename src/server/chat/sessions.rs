//! The sessions present in rooms through this node's streams, so that a session's
//! presence ends when it no longer holds its name: at once when it signs out, or moves
//! to another name, through this node; within [`CHECK_EVERY`] when that happened through
//! another node, or its hold ended otherwise (it expired and someone took the name).
//! Its streams end then; the browser comes back signed out, or as whoever it is now.

use crate::server::broker::{Holder, Names};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// How often this node asks whether the sessions present through it still hold their
/// names: one hold check per session, at most 16 at once. Asking is use, as listening is:
/// it extends the hold.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// A session and the key of the name it holds ([`DisplayName::key`]).
///
/// [`DisplayName::key`]: crate::message::DisplayName::key
type Key = (String, String);

fn key_of(holder: &Holder) -> Key {
    (holder.session_id.clone(), holder.name.key())
}

struct Watched {
    holder: Holder,
    ended: CancellationToken,
    streams: usize,
}

#[derive(Default)]
pub struct Sessions {
    /// A std `Mutex`: held for map updates only, never across an `.await`.
    watched: Mutex<HashMap<Key, Watched>>,
}

/// One stream's watch on its session; `ended` is cancelled when the session no longer
/// holds its name. Dropping it stops watching.
pub struct Watch {
    sessions: Arc<Sessions>,
    key: Key,
    pub ended: CancellationToken,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self.sessions.lock();
        if let Some(entry) = watched.get_mut(&self.key) {
            entry.streams = entry.streams.saturating_sub(1);
            if entry.streams == 0 {
                watched.remove(&self.key);
            }
        }
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Watched>> {
        self.watched.lock().expect("sessions lock poisoned")
    }

    /// Watches `holder` for a stream that made it present.
    pub fn watch(self: &Arc<Self>, holder: &Holder) -> Watch {
        let key = key_of(holder);
        let ended = {
            let mut watched = self.lock();
            let entry = watched.entry(key.clone()).or_insert_with(|| Watched {
                holder: holder.clone(),
                ended: CancellationToken::new(),
                streams: 0,
            });
            entry.streams += 1;
            entry.ended.clone()
        };
        Watch {
            sessions: Arc::clone(self),
            key,
            ended,
        }
    }

    /// `holder` no longer holds its name: its streams here end.
    pub fn end(&self, holder: &Holder) {
        if let Some(entry) = self.lock().remove(&key_of(holder)) {
            entry.ended.cancel();
        }
    }

    fn holders(&self) -> Vec<Holder> {
        self.lock().values().map(|w| w.holder.clone()).collect()
    }

    /// Every [`CHECK_EVERY`], ends the sessions watched here that no longer hold their
    /// names, until `shutdown`. A check the broker cannot answer ends nothing.
    pub async fn run_checks(self: Arc<Self>, names: Arc<dyn Names>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            for chunk in self.holders().chunks(16) {
                let checks = chunk.iter().map(|holder| names.holds(holder));
                let held = futures::future::join_all(checks).await;
                for (holder, held) in chunk.iter().zip(held) {
                    if matches!(held, Ok(false)) {
                        self.end(holder);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DisplayName;

    fn holder(name: &str, session: &str) -> Holder {
        Holder {
            name: DisplayName::parse(name).unwrap(),
            session_id: session.into(),
            since: 0,
        }
    }

    #[test]
    fn ending_a_session_ends_its_watches_and_only_its_own() {
        let sessions = Arc::new(Sessions::default());
        let (one, two) = (
            sessions.watch(&holder("ann", "a")),
            sessions.watch(&holder("Ann", "a")),
        );
        let other = sessions.watch(&holder("ann", "b"));
        sessions.end(&holder("ANN", "a"));
        assert!(one.ended.is_cancelled() && two.ended.is_cancelled());
        assert!(!other.ended.is_cancelled());
        drop(other);
        assert!(
            sessions.holders().is_empty(),
            "nothing watched once dropped"
        );
        // A watch after the end is a new one.
        assert!(!sessions.watch(&holder("ann", "a")).ended.is_cancelled());
    }
}
