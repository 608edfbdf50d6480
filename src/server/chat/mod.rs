//! The chat's use cases, in one place: post, edit, delete, react, sign in, sign out,
//! typing, and listening to rooms. The JSON API (`http::api`, `http::session`,
//! `http::sse`) and the pages' no-JS forms (`app::data`) both call these, so each rule
//! lives once: what a valid post is, where a session id comes from, which steps a stream
//! takes in which order.
//!
//! Below it is the broker (`server::broker`), whose roles it composes; above it, HTTP,
//! which it knows nothing of: a use case takes parsed values and the session's
//! [`Holder`], and answers with domain values or an [`Error`].

mod error;
mod sessions;

pub use error::{Error, Result};
pub use sessions::{CHECK_EVERY, Watch};

use super::{
    broker::{
        After, Broker, Change, ChangeKind, Changed, Claim, Holder, NewMessage, Published,
        Subscription,
        log::Emoji,
        presence::{Here, PresenceTracker},
    },
    metrics::Metrics,
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, MessageText, RoomName, RoomSummary},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use std::{net::IpAddr, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// The longest `client_id` a post may carry.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// The use cases over one broker; cloned as one `Arc`.
#[derive(Clone)]
pub struct Chat(Arc<Inner>);

struct Inner {
    broker: Broker,
    /// Who is present in which room through this node's streams.
    presence: Arc<PresenceTracker>,
    /// The sessions present through this node's streams, whose presence ends when they
    /// no longer hold their names.
    sessions: Arc<sessions::Sessions>,
    metrics: Metrics,
}

/// What a stream listens to, from [`Chat::listen`].
pub struct Listening {
    /// Each room's live deliveries, subscribed before anything was read.
    pub subscriptions: Vec<Subscription>,
    /// Each room's presence as it stands, or why the broker could not say; `None` for a
    /// room the stream is not `here` in, which gets no awareness at all.
    pub presences: Vec<Option<Result<Presence>>>,
    /// The person's presence in the rooms where they are here; it ends when these drop.
    pub here: Vec<Here>,
    /// With `here`, the watch on the person's session: the stream ends when its
    /// `ended` is cancelled, as the session no longer holds its name.
    pub watch: Option<Watch>,
}

impl Chat {
    /// The chat over `broker`. A person's leave waits `leave_grace` after their last
    /// stream to a room closes. Must run inside a Tokio runtime: this node's presence is
    /// refreshed with the broker, and its sessions' holds checked, by tasks of their own,
    /// until `shutdown`.
    pub fn new(
        broker: Broker,
        leave_grace: Duration,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Self {
        let presence = PresenceTracker::new(Arc::clone(&broker.awareness), leave_grace);
        tokio::spawn(Arc::clone(&presence).run_refresh(shutdown.clone()));
        let sessions = Arc::new(sessions::Sessions::default());
        tokio::spawn(Arc::clone(&sessions).run_checks(Arc::clone(&broker.names), shutdown));
        Self(Arc::new(Inner {
            broker,
            presence,
            sessions,
            metrics,
        }))
    }

    /// Posts `text` to `room` as `author`, from `client` (the address new-room limits
    /// count under): `client_id` makes a repeat answer with the first message instead of
    /// posting again. The broker checks the author's hold and the limits in the same step
    /// that stores.
    pub async fn post(
        &self,
        author: Holder,
        room: RoomName,
        text: &str,
        client_id: Option<String>,
        client: IpAddr,
    ) -> Result<Published> {
        let text = MessageText::parse(text)?;
        if let Some(client_id) = &client_id {
            let chars = client_id.chars().count();
            if !(1..=MAX_CLIENT_ID_CHARS).contains(&chars)
                || client_id.chars().any(char::is_control)
            {
                return Err(Error::InvalidClientId);
            }
        }
        let published = self
            .0
            .broker
            .log
            .publish(NewMessage {
                room,
                author,
                text,
                client_id,
                client,
            })
            .await?;
        if let Published::New(_) = published {
            self.0.metrics.published.increment(1);
        }
        Ok(published)
    }

    /// New text for the author's own message.
    pub async fn edit(
        &self,
        author: Holder,
        room: RoomName,
        id: MessageId,
        text: &str,
    ) -> Result<Changed> {
        let text = MessageText::parse(text)?;
        self.change(author, room, id, ChangeKind::Edit(text)).await
    }

    /// Deletes the author's own message.
    pub async fn delete(&self, author: Holder, room: RoomName, id: MessageId) -> Result<Changed> {
        self.change(author, room, id, ChangeKind::Delete).await
    }

    /// Puts (`on`) or takes back the author's reaction `emoji` on a message.
    pub async fn react(
        &self,
        author: Holder,
        room: RoomName,
        id: MessageId,
        emoji: &str,
        on: bool,
    ) -> Result<Changed> {
        let emoji = Emoji::parse(emoji)?;
        let kind = if on {
            ChangeKind::React(emoji)
        } else {
            ChangeKind::Unreact(emoji)
        };
        self.change(author, room, id, kind).await
    }

    /// The broker checks the hold, the sender and the post limit in the step that stores.
    async fn change(
        &self,
        author: Holder,
        room: RoomName,
        id: MessageId,
        kind: ChangeKind,
    ) -> Result<Changed> {
        let change = Change {
            room,
            id,
            author,
            kind,
        };
        Ok(self.0.broker.log.change(change).await?)
    }

    /// Signs in as `raw_name` from `client` (a sign-in limit counts per `client`), for
    /// the session of the cookie the browser sent (`session`), if any. A new session id
    /// every time, unless that very token holds its name now: then it keeps its id, so
    /// that signing in again with the name it holds succeeds and a new name releases the
    /// old one. So a cookie planted in a browser before its owner signs in, or a copy of
    /// one whose name was released, never becomes the session that signs in. The holding
    /// begins at the claim, unless the session held that very name already. Answers the
    /// session that holds the name now, or [`Error::NameTaken`].
    pub async fn sign_in(
        &self,
        session: Option<&Holder>,
        raw_name: &str,
        client: IpAddr,
    ) -> Result<Holder> {
        let name = DisplayName::parse(raw_name)?;
        let current = match session {
            Some(session) if self.0.broker.names.holds(session).await? => Some(session),
            _ => None,
        };
        let mut holder = Holder {
            session_id: current.map_or_else(new_session_id, |s| s.session_id.clone()),
            since: 0,
            name,
        };
        let previous = current.map(|s| &s.name);
        match self.0.broker.names.claim(&holder, previous, client).await? {
            Claim::Granted { at } => {
                holder.since = match current {
                    Some(held) if held.name.key() == holder.name.key() => held.since,
                    Some(held) => {
                        // The old name is released: the session's presence under it ends.
                        self.0.sessions.end(held);
                        at
                    }
                    None => at,
                };
                Ok(holder)
            }
            Claim::Taken => Err(Error::NameTaken),
        }
    }

    /// Ends the session's hold on its name, if it has it, and its presence: its streams
    /// through this node end now, those through others within
    /// [`CHECK_EVERY`](sessions::CHECK_EVERY).
    pub async fn sign_out(&self, session: &Holder) -> Result<()> {
        self.0.broker.names.release(session).await?;
        self.0.sessions.end(session);
        Ok(())
    }

    /// Whether the session still holds its name; asking is use, and extends the hold.
    pub async fn holds(&self, session: &Holder) -> Result<bool> {
        Ok(self.0.broker.names.holds(session).await?)
    }

    /// Tells the room that `person` is typing, at most once every 2 s on all nodes.
    pub async fn typing(&self, room: &RoomName, person: &Holder) -> Result<()> {
        Ok(self.0.broker.awareness.typing(room, person).await?)
    }

    /// The newest `limit` messages before `before` (or the newest overall), oldest first.
    pub async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>> {
        Ok(self.0.broker.log.history(room, before, limit).await?)
    }

    /// The first `limit` log entries after `after`, for a stream that resumes or lagged.
    pub async fn replay(&self, room: &RoomName, after: MessageId, limit: usize) -> Result<After> {
        Ok(self.0.broker.log.after(room, after, limit).await?)
    }

    /// Rooms with recent activity first.
    pub async fn rooms(&self) -> Result<Vec<RoomSummary>> {
        Ok(self.0.broker.log.rooms().await?)
    }

    /// Who is in `room` now.
    pub async fn presence(&self, room: &RoomName) -> Result<Presence> {
        Ok(self.0.broker.awareness.presence(room).await?)
    }

    /// Opens a stream's rooms: subscribes to each (before anything is read, so that
    /// nothing published meanwhile is missed), makes `person` present in the rooms at
    /// the positions `here` (if the session still holds its name), and reads the presence
    /// of those rooms, the stream's first events (the others bring no awareness). A
    /// stream is use of a name even where its person is not present.
    pub async fn listen(
        &self,
        rooms: &[RoomName],
        here: &[usize],
        person: Option<Holder>,
    ) -> Listening {
        let subscriptions = self.0.broker.bus.subscribe(rooms).await;
        if here.is_empty()
            && let Some(person) = &person
        {
            // Off the response's path.
            let (names, person) = (Arc::clone(&self.0.broker.names), person.clone());
            tokio::spawn(async move {
                let _ = names.holds(&person).await;
            });
        }
        // The here rooms' presence at once: from the step that enters the person (their
        // first stream to the room) or checks them (another tab); for anonymous
        // listeners or revoked cookies, a plain read.
        let presences = futures::future::join_all(rooms.iter().enumerate().map(|(index, room)| {
            let is_here = here.contains(&index);
            let person = person.as_ref().filter(|_| is_here);
            async move {
                if !is_here {
                    return (None, None);
                }
                if let Some(person) = person {
                    match self.0.presence.arrive(room, person).await {
                        Ok(Some((here, presence))) => return (Some(here), Some(Ok(presence))),
                        Ok(None) => {}
                        // While the broker is down the stream still opens, anonymously.
                        Err(error) => return (None, Some(Err(error.into()))),
                    }
                }
                (None, Some(self.presence(room).await))
            }
        }))
        .await;
        let (here, presences) = presences.into_iter().unzip::<_, _, Vec<_>, _>();
        let here: Vec<Here> = here.into_iter().flatten().collect();
        let watch = person
            .filter(|_| !here.is_empty())
            .map(|person| self.0.sessions.watch(&person));
        Listening {
            subscriptions,
            presences,
            here,
            watch,
        }
    }

    /// Whether the broker answers now.
    pub async fn ready(&self) -> bool {
        self.0.broker.bus.ready().await
    }

    /// Ends every stream's subscriptions (graceful shutdown).
    pub fn close(&self) {
        self.0.broker.bus.close();
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
}

/// A random id for a new session: 128 bits, base64url.
fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
