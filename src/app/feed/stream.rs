//! The browser side of the feed: the room's part in the browser's one event stream
//! (`live::subscribe`), each event applied to the [`Feed`], last-read ids, and
//! notifications of mentions.

use super::{Feed, Messages, PAGE, StreamEvent, TYPING_SHOWS_MS, Typist, join, leave};
use crate::{
    app::{
        SessionContext, client,
        live::{
            self, Subscriber, Subscription,
            plan::{Interest, Positions},
        },
    },
    awareness::{self, JOIN_LEAVE_LIMIT, PersonEvent, PersonEventKind},
    message::{ChatMessage, MessageId, RoomName},
};
use leptos::{prelude::*, task::spawn_local};
use send_wrapper::SendWrapper;
use std::time::Duration;
use wasm_bindgen::JsCast;

/// Messages of a background room fetched after its `resync`, to count its unread.
const UNREAD_PAGE: usize = 200;
/// How long a failed reload waits before the next try.
const RETRY: Duration = Duration::from_secs(3);
/// How often the member list is read while the room is too full for join and leave.
const PRESENCE_POLL: Duration = Duration::from_secs(30);
/// A mention older than this when it arrives (a replay after a reconnect) notifies
/// nobody: it is counted in the sidebar instead.
const NOTIFY_WITHIN_MS: f64 = 60_000.0;

/// Everything the stream's callbacks need, `Copy` so that each can hold it.
#[derive(Clone, Copy)]
struct Tab {
    feed: Feed,
    session: SessionContext,
    subscription: StoredValue<Option<SendWrapper<Subscription>>>,
    /// The newest id this tab holds for each room: where a fresh stream resumes, and
    /// what is a repeat.
    positions: StoredValue<Positions>,
    /// The rooms this tab wants events of (the others' events come too, and are not
    /// this tab's business).
    followed: StoredValue<Vec<RoomName>>,
    last_read: StoredValue<client::LastRead>,
    /// Set when the room is left; read with `try_`, since timers outlive the room.
    closed: StoredValue<bool>,
}

/// Subscribes to the browser's stream once the room's history is on the page, and keeps
/// the room's last-read id at its newest message; unsubscribes when the room is left.
pub fn connect(feed: Feed, history: Resource<Result<Vec<ChatMessage>, ServerFnError>>) {
    let tab = Tab {
        feed,
        session: expect_context::<SessionContext>(),
        subscription: StoredValue::new(None),
        positions: StoredValue::new(Positions::default()),
        followed: StoredValue::new(Vec::new()),
        last_read: StoredValue::new(client::load_last_read()),
        closed: StoredValue::new(false),
    };
    let started = StoredValue::new(false);
    Effect::new(move |_| {
        // A history that failed to load starts from nothing: the stream's `resync`
        // then loads it again.
        let rendered = history.with(|page| match page {
            Some(Ok(page)) => Some(page.last().map(|m| m.id)),
            Some(Err(_)) => Some(None),
            None => None,
        });
        if let Some(rendered) = rendered
            && !started.get_value()
        {
            started.set_value(true);
            tab.start(rendered);
        }
    });
    // Opening a room reads it, and so does every message that arrives while it is open.
    Effect::new(move |_| {
        if let Some(newest) = feed.messages.with(|all| all.last().map(|(id, _)| *id)) {
            let room = feed.room.get_value();
            tab.last_read.set_value(client::mark_read(&room, newest));
        }
    });
    tab.poll_presence_when_full();
    tab.follow_other_tabs();
    on_cleanup(move || {
        tab.closed.set_value(true);
        tab.subscription.set_value(None);
    });
}

impl Tab {
    fn alive(self) -> bool {
        self.closed.try_get_value() == Some(false)
    }

    fn start(self, rendered: Option<MessageId>) {
        let room = self.feed.room.get_value();
        let shown = self
            .feed
            .messages
            .with_untracked(|all| all.last().map(|(id, _)| *id));
        // A room shown empty resumes from 0-0, which is never a real id: the server
        // answers `resync` and the page loads history, so that a message posted between
        // the server's render and now is not lost.
        let newest = rendered.max(shown).unwrap_or_default();
        self.advance(&room, newest);
        if rendered.is_none() {
            self.last_read
                .set_value(client::mark_read(&room, MessageId::default()));
        }
        let (feed, status, role) = (self.feed, self.feed.status, self.feed.role);
        let subscription = live::subscribe(Subscriber {
            interest: Box::new(move || self.interest()),
            on_event: Box::new(move |kind, data, id| self.on_event(kind, data, id)),
            on_status: Box::new(move |connection, part| {
                if feed.room.try_get_value().is_some() {
                    status.maybe_update(|shown| std::mem::replace(shown, connection) != connection);
                    role.maybe_update(|shown| shown.replace(part) != Some(part));
                }
            }),
        });
        self.subscription
            .set_value(Some(SendWrapper::new(subscription)));
    }

    /// What this tab wants from the stream: this room after its newest message, and
    /// each other recent room after the newest id held for it, else its last-read id.
    fn interest(self) -> Interest {
        let Some(current) = self.feed.room.try_get_value() else {
            return Interest::default();
        };
        let positions = self.positions.get_value();
        let last_read = self.last_read.get_value();
        let interest = Interest::of_room(
            &current,
            positions.get(&current).unwrap_or_default(),
            client::load_recent(),
            |room| positions.get(room).or(last_read.get(room).copied()),
        );
        self.followed.set_value(
            interest
                .rooms
                .iter()
                .map(|(room, _)| room.clone())
                .collect(),
        );
        interest
    }

    /// Tells the stream that this tab's positions moved on their own (a reload).
    fn moved(self) {
        self.subscription.with_value(|subscription| {
            if let Some(subscription) = subscription {
                subscription.changed();
            }
        });
    }

    /// Moves `room` to `id`; whether that was new.
    fn advance(self, room: &RoomName, id: MessageId) -> bool {
        self.positions
            .try_update_value(|all| all.advance(room, id))
            .unwrap_or(false)
    }

    fn on_event(self, kind: &str, data: &str, id: &str) {
        if !self.alive() {
            return;
        }
        let Some(event) = StreamEvent::parse(kind, data) else {
            return;
        };
        // Every entry of a room's log (the only events with an id) moves the room's
        // position, changes (`update`, `delete`) as much as messages. One this tab holds
        // already is a repeat (the stream went back for another tab): dropped.
        if let Some((room, id)) = awareness::parse_stream_event_id(id)
            && !self.advance(&room, id)
        {
            return;
        }
        if !self
            .followed
            .with_value(|rooms| rooms.contains(event.room()))
        {
            return;
        }
        if *event.room() != self.feed.room.get_value() {
            match event {
                StreamEvent::Message(message) => self.background_message(message),
                StreamEvent::Resync(resync) => self.recount(resync.room),
                // A change is nothing new to read; a deleted message is nothing to read.
                StreamEvent::Delete(deleted) => self.feed.unread.maybe_update(|all| {
                    all.get_mut(&deleted.room)
                        .is_some_and(|unread| unread.forget(deleted.id))
                }),
                // Presence belongs to the room the person is in (`here`), this one.
                _ => {}
            }
            return;
        }
        match event {
            StreamEvent::Message(message) => {
                self.stop_typing(&message.sender);
                self.notify_if_mentioned(&message);
                self.feed.add([message]);
            }
            // Neither is new: no unread count, no notification, no end of typing.
            StreamEvent::Update(message) => self.feed.change(message),
            StreamEvent::Delete(deleted) => self.feed.remove(deleted.id),
            StreamEvent::Resync(_) => {
                // What is shown cannot be continued: clear it now, so that live messages
                // from here on land in an empty list, and merge the reloaded page in.
                self.feed.messages.set(Messages::new());
                self.load_newest();
            }
            StreamEvent::Presence(presence) => self.feed.members.set(Some(presence)),
            StreamEvent::Person(kind, person) => self.person(kind, person),
        }
    }

    fn load_newest(self) {
        let room = self.feed.room.get_value();
        spawn_local(async move {
            let page = client::history(&room, None, PAGE).await;
            if !self.alive() {
                return;
            }
            match page {
                Ok(page) => {
                    self.feed.more_older.set(page.len() == PAGE);
                    if let Some(newest) = page.last() {
                        self.advance(&room, newest.id);
                        self.moved();
                    }
                    self.feed.add(page);
                }
                Err(_) => set_timeout(
                    move || {
                        if self.alive() {
                            self.load_newest();
                        }
                    },
                    RETRY,
                ),
            }
        });
    }

    fn person(self, kind: PersonEventKind, person: PersonEvent) {
        match kind {
            PersonEventKind::Join => self.feed.members.update(|members| {
                if let Some(members) = members {
                    join(members, person.name);
                }
            }),
            PersonEventKind::Leave => {
                self.stop_typing(&person.name);
                self.feed.members.update(|members| {
                    if let Some(members) = members {
                        leave(members, &person.name);
                    }
                });
            }
            PersonEventKind::Typing => {
                if self
                    .session
                    .name_untracked()
                    .is_some_and(|me| me.same_name(&person.name))
                {
                    return;
                }
                let until = client::now_ms() + TYPING_SHOWS_MS;
                self.feed.typing.update(|typing| {
                    match typing.iter_mut().find(|t| t.name.same_name(&person.name)) {
                        Some(typist) => typist.until = until,
                        None => typing.push(Typist {
                            name: person.name,
                            until,
                        }),
                    }
                });
                let typing = self.feed.typing;
                set_timeout(
                    move || {
                        let now = client::now_ms();
                        typing.maybe_update(|typing| {
                            let before = typing.len();
                            typing.retain(|t| t.until > now);
                            typing.len() != before
                        });
                    },
                    Duration::from_millis(TYPING_SHOWS_MS as u64 + 50),
                );
            }
        }
    }

    fn stop_typing(self, name: &crate::message::DisplayName) {
        self.feed.typing.maybe_update(|typing| {
            let before = typing.len();
            typing.retain(|t| !t.name.same_name(name));
            typing.len() != before
        });
    }

    fn background_message(self, message: ChatMessage) {
        let me = self.session.name_untracked();
        let read = self
            .last_read
            .with_value(|all| all.get(&message.room).copied());
        if read.is_none_or(|read| message.id > read) {
            self.notify_if_mentioned(&message);
        }
        self.feed.unread.update(|all| {
            all.entry(message.room.clone())
                .or_default()
                .add(&message, read, me.as_ref());
        });
    }

    /// A background room's `resync`: count what is unread in its newest page.
    fn recount(self, room: RoomName) {
        spawn_local(async move {
            let Ok(page) = client::history(&room, None, UNREAD_PAGE).await else {
                return;
            };
            if !self.alive() {
                return;
            }
            if let Some(newest) = page.last() {
                self.advance(&room, newest.id);
                self.moved();
            }
            let me = self.session.name_untracked();
            let read = self.last_read.with_value(|all| all.get(&room).copied());
            self.feed.unread.update(|all| {
                let unread = all.entry(room).or_default();
                for message in &page {
                    unread.add(message, read, me.as_ref());
                }
            });
        });
    }

    fn notify_if_mentioned(self, message: &ChatMessage) {
        let Some(me) = self.session.name_untracked() else {
            return;
        };
        let fresh = message.id.ms as f64 >= client::now_ms() - NOTIFY_WITHIN_MS;
        if fresh
            && client::page_hidden()
            && !me.same_name(&message.sender)
            && awareness::mentions_name(&message.text, &me)
        {
            client::notify(
                &format!("{} in #{}", message.sender, message.room),
                &message.text,
                &format!("tiny-chat-{}", message.room),
            );
        }
    }

    /// While the room has more people than join and leave are sent for, reads who is
    /// here every 30 s instead.
    fn poll_presence_when_full(self) {
        let Ok(handle) = set_interval_with_handle(
            move || {
                if !self.alive() {
                    return;
                }
                let full = self.feed.members.with_untracked(|members| {
                    members
                        .as_ref()
                        .is_some_and(|m| m.count >= JOIN_LEAVE_LIMIT)
                });
                if full {
                    let room = self.feed.room.get_value();
                    spawn_local(async move {
                        if let Ok(presence) = client::presence(&room).await {
                            self.feed.members.set(Some(presence));
                        }
                    });
                }
            },
            PRESENCE_POLL,
        ) else {
            return;
        };
        on_cleanup(move || handle.clear());
    }

    /// Another tab read a room: what it read is no longer unread here either.
    fn follow_other_tabs(self) {
        let handle = window_event_listener_untyped("storage", move |event| {
            let changed = event
                .dyn_ref::<web_sys::StorageEvent>()
                .is_some_and(|e| e.key().as_deref() == Some(client::LAST_READ_KEY));
            if !changed || !self.alive() {
                return;
            }
            let read = client::load_last_read();
            self.feed.unread.update(|all| {
                for (room, unread) in all.iter_mut() {
                    if let Some(read) = read.get(room) {
                        unread.read_up_to(*read);
                    }
                }
            });
            self.last_read.set_value(read);
        });
        on_cleanup(move || handle.remove());
    }
}
