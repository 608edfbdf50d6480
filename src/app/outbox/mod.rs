//! The outbox: messages typed but not yet taken by the server. Every message goes through
//! it, so that one typed on a train in a tunnel is not lost: it waits in localStorage,
//! shown in its room as waiting, editable and cancellable, and survives a reload.
//!
//! The tab that holds the browser's stream sends (`send.rs`), in order, each with the
//! `client_id` it was given when typed, so that a retry never posts twice: not after a
//! reload, not from two tabs at once. A post refused for good (a `4xx` other than `429`)
//! stays, marked failed with the server's reason. The other tabs see the outbox change
//! through localStorage's `storage` event, which also wakes the sender.
//!
//! A message goes only in the session it was typed in: each carries the tag of that
//! session (`client::Signed`), and the outbox holds only those of the session this browser
//! is signed in with now. When the page learns that its session has ended (signed out in
//! any tab, or a `401` after it ended outside: the cookie expired, the name's hold was
//! lost, a sign-out without JavaScript or from another device), the outbox is emptied and
//! the page shows it signed out (`signed.rs`); whoever signs in next, under any name,
//! starts a session with another tag, so nothing typed before is sent as theirs.

#[cfg(feature = "hydrate")]
mod send;
#[cfg(feature = "hydrate")]
mod signed;
#[cfg(feature = "hydrate")]
mod stored;
mod view;

#[cfg(feature = "hydrate")]
pub use send::{cancel, flush, push, start, take_back};
pub use view::{OutboxCount, OutboxList};

use crate::{
    app::client::Signed,
    message::{ChatMessage, DisplayName, RoomName},
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The localStorage key of the outbox.
pub const OUTBOX_KEY: &str = "tiny-chat:outbox";
/// At most this many messages wait; past that, the composer keeps the text and says so,
/// so that a browser offline for days does not fill its storage.
pub const MAX_UNSENT: usize = 100;

/// A message typed and not yet taken by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    /// The idempotency key of its post, given when it was typed.
    pub client_id: String,
    pub room: RoomName,
    /// Who typed it.
    pub sender: DisplayName,
    /// The tag of the session it was typed in (`Signed::tag`), given by `push`: it is sent
    /// only in that session. Empty in what was stored before sessions had tags, which
    /// is no session's.
    #[serde(default)]
    pub session: String,
    pub text: String,
    /// Why the server refused it for good; `None` while it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Unsent {
    /// Whether it was typed in the session `me` (the one this browser is signed in with).
    pub fn typed_in(&self, me: &Signed) -> bool {
        !self.session.is_empty() && self.session == me.tag && self.sender.same_name(&me.name)
    }

    /// Whether it is still to be sent in the session `me`.
    pub fn sendable_by(&self, me: &Signed) -> bool {
        self.failed.is_none() && self.typed_in(me)
    }
}

/// The outbox as the page shows it, shared by every page of the tab; `landed` is the
/// message a post of this tab just became, for the room that shows it.
#[derive(Clone, Copy)]
pub struct Outbox {
    pub unsent: RwSignal<Vec<Unsent>>,
    pub landed: RwSignal<Option<ChatMessage>>,
    /// The unsent message taken back into the composer (its client_id and text).
    pub taken_back: RwSignal<Option<(String, String)>>,
}

impl Outbox {
    pub fn new() -> Self {
        Self {
            unsent: RwSignal::new(Vec::new()),
            landed: RwSignal::new(None),
            taken_back: RwSignal::new(None),
        }
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

/// The outbox as stored; a damaged entry is dropped, not the whole outbox.
pub fn parse(json: &str) -> Vec<Unsent> {
    let Ok(entries) = serde_json::from_str::<Vec<serde_json::Value>>(json) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect()
}

/// What the outbox says of `unsent`, as shown beside its text.
pub fn status_of(unsent: &Unsent, me: Option<&DisplayName>, online: bool) -> String {
    match (&unsent.failed, me) {
        (Some(reason), _) => format!("failed: {reason}"),
        (None, Some(me)) if !unsent.sender.same_name(me) => {
            format!("waiting for {} to sign in", unsent.sender)
        }
        (None, None) => format!("waiting for {} to sign in", unsent.sender),
        (None, Some(_)) if online => "sending…".to_owned(),
        (None, Some(_)) => "waiting to send".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsent(id: &str, sender: &str, failed: Option<&str>) -> Unsent {
        Unsent {
            client_id: id.into(),
            room: RoomName::parse("lobby").unwrap(),
            sender: DisplayName::parse(sender).unwrap(),
            session: "tag-1".into(),
            text: format!("text {id}"),
            failed: failed.map(str::to_owned),
        }
    }

    fn signed(name: &str, tag: &str) -> Signed {
        Signed {
            name: DisplayName::parse(name).unwrap(),
            tag: tag.into(),
            since: String::new(),
        }
    }

    #[test]
    fn the_outbox_survives_a_damaged_entry_and_keeps_its_order() {
        let kept = [
            unsent("a", "ann", None),
            unsent("b", "ann", Some("too long")),
        ];
        let mut json: Vec<serde_json::Value> = kept
            .iter()
            .map(|u| serde_json::to_value(u).unwrap())
            .collect();
        json.insert(1, serde_json::json!({ "client_id": 5 }));
        let stored = serde_json::to_string(&json).unwrap();
        assert_eq!(parse(&stored), kept);
        assert_eq!(parse("not json"), []);
        assert!(
            !serde_json::to_string(&kept[0]).unwrap().contains("failed"),
            "no `failed` key while it waits"
        );
    }

    #[test]
    fn only_the_session_that_typed_it_sends_it_and_a_refusal_is_shown_with_its_reason() {
        let ann = DisplayName::parse("Ann").unwrap();
        let waiting = unsent("a", "ann", None);
        assert!(waiting.sendable_by(&signed("Ann", "tag-1")));
        assert!(!waiting.sendable_by(&signed("bob", "tag-1")));
        // Signed in again as ann: another session, which does not send it.
        assert!(!waiting.sendable_by(&signed("ann", "tag-2")));
        assert_eq!(status_of(&waiting, Some(&ann), true), "sending…");
        assert_eq!(status_of(&waiting, Some(&ann), false), "waiting to send");
        assert_eq!(
            status_of(&waiting, None, true),
            "waiting for ann to sign in"
        );
        let failed = unsent("b", "ann", Some("text must be at most 2000 characters"));
        assert!(!failed.sendable_by(&signed("ann", "tag-1")));
        assert_eq!(
            status_of(&failed, Some(&ann), true),
            "failed: text must be at most 2000 characters"
        );
    }

    #[test]
    fn what_was_stored_before_sessions_had_tags_belongs_to_no_session() {
        let stored = r#"[{"client_id":"a","room":"lobby","sender":"ann","text":"hi"}]"#;
        let [old] = parse(stored).try_into().unwrap();
        assert_eq!(old.session, "");
        assert!(!old.typed_in(&signed("ann", "")));
        assert!(!old.sendable_by(&signed("ann", "tag-1")));
    }
}
