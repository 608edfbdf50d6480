//! The room's message list: the scrolling frame the page hydrates (older history at the
//! top, a pill for new messages while scrolled up), around the rows, which are a part of
//! their own (`messages`, mounted by `later` once the page is live).

use super::{
    client,
    feed::{Feed, Messages, PAGE},
    later::LaterRows,
};
use crate::message::{MessageId, RoomName};
use leptos::{ev, html, prelude::*, task::spawn_local};

/// Scrolled this close to the top, the list loads older messages.
const LOAD_OLDER_WITHIN_PX: f64 = 120.0;

/// The list's scrolling: following new messages at the bottom, counting them while
/// scrolled up, and loading older ones at the top.
#[derive(Clone, Copy)]
struct Scroller {
    feed: Feed,
    room: StoredValue<RoomName>,
    list: NodeRef<html::Div>,
    at_bottom: RwSignal<bool>,
    /// New messages below while scrolled up.
    unread: RwSignal<usize>,
    loading_older: RwSignal<bool>,
    /// The live rows are in (until then the server's show: see `LaterRows`).
    mounted: RwSignal<bool>,
}

impl Scroller {
    fn new(room: RoomName) -> Self {
        Self {
            feed: expect_context::<Feed>(),
            room: StoredValue::new(room),
            list: NodeRef::new(),
            at_bottom: RwSignal::new(true),
            unread: RwSignal::new(0),
            loading_older: RwSignal::new(false),
            mounted: RwSignal::new(false),
        }
    }

    fn to_bottom(self) {
        if let Some(list) = self.list.get_untracked() {
            list.set_scroll_top(f64::from(list.scroll_height()));
        }
        self.unread.set(0);
    }

    /// New messages at the bottom: follow them when at the bottom, else count them. The
    /// newest message as it stands counts: a new one, or a change to it (reactions make
    /// it taller), is followed at the bottom; a change higher up moves nothing.
    fn follow_newest(self) {
        let messages = self.feed.messages;
        let newest = Memo::new(move |_| messages.with(|all| all.values().next_back().cloned()));
        Effect::new(move |newest_before: Option<Option<MessageId>>| {
            let newest = newest.with(|newest| newest.as_ref().map(|m| m.id));
            if let Some(Some(before)) = newest_before {
                let added = messages.with_untracked(|all| {
                    let from = all.find_index(&before).unwrap_or_else(|at| at);
                    (all.len() - from).saturating_sub(1)
                });
                if self.at_bottom.get_untracked() {
                    request_animation_frame(move || self.to_bottom());
                } else if added > 0 {
                    self.unread.update(|n| *n += added);
                }
            } else {
                request_animation_frame(move || self.to_bottom());
            }
            newest
        });
    }

    /// Once the live rows are in: follow what arrived below the server's rows, or load
    /// the older messages asked for by a scroll to the top meanwhile.
    fn when_mounted(self) {
        Effect::new(move |_| {
            if !self.mounted.get() {
                return;
            }
            if self.at_bottom.get_untracked() {
                request_animation_frame(move || self.to_bottom());
            } else if self
                .list
                .get_untracked()
                .is_some_and(|list| list.scroll_top() < LOAD_OLDER_WITHIN_PX)
            {
                self.load_older();
            }
        });
    }

    fn load_older(self) {
        let (feed, list) = (self.feed, self.list);
        let (messages, more_older) = (feed.messages, feed.more_older);
        // (Not before the live rows are in: older ones would not show, and the scroll
        // position kept for them would be wrong.)
        if self.loading_older.get_untracked()
            || !more_older.get_untracked()
            || !self.mounted.get_untracked()
        {
            return;
        }
        let Some(oldest) = messages.with_untracked(|all| all.first().map(|(id, _)| *id)) else {
            return;
        };
        self.loading_older.set(true);
        let room = self.room.get_value();
        spawn_local(async move {
            if let Ok(page) = client::history(&room, Some(oldest), PAGE).await {
                more_older.set(page.len() == PAGE);
                let Some(list) = list.get_untracked() else {
                    return;
                };
                // (`scroll_top` is a float with web-sys's unstable APIs, which Web Locks
                // need: see .cargo/config.toml.)
                let (height, top) = (f64::from(list.scroll_height()), list.scroll_top());
                feed.add(page);
                // Keep the same messages in view after the ones above them arrive.
                request_animation_frame(move || {
                    list.set_scroll_top(top + f64::from(list.scroll_height()) - height)
                });
            }
            self.loading_older.set(false);
        });
    }

    fn scrolled(self) {
        let Some(list) = self.list.get_untracked() else {
            return;
        };
        let bottom =
            f64::from(list.scroll_height() - list.client_height()) - list.scroll_top() < 40.0;
        self.at_bottom.set(bottom);
        if bottom {
            self.unread.set(0);
        }
        if list.scroll_top() < LOAD_OLDER_WITHIN_PX {
            self.load_older();
        }
    }
}

#[component]
pub fn MessageList(room: RoomName) -> impl IntoView {
    let scroller = Scroller::new(room);
    scroller.follow_newest();
    scroller.when_mounted();
    let Scroller { list, mounted, .. } = scroller;
    view! {
        <div class="messages" node_ref=list on:scroll=move |_: ev::Event| scroller.scrolled()>
            <HistoryEdge scroller />
            <LaterRows mounted />
        </div>
        <NewPill scroller />
    }
}

/// What is above the first message: more to load, or the room's beginning.
#[component]
fn HistoryEdge(scroller: Scroller) -> impl IntoView {
    let Scroller {
        feed,
        loading_older,
        ..
    } = scroller;
    let (messages, more_older) = (feed.messages, feed.more_older);
    view! {
        <p class="history-edge muted">
            {move || {
                if loading_older.get() {
                    "Loading older messages…"
                } else if more_older.get() && messages.with(|m| m.len() >= PAGE) {
                    "Scroll up for older messages"
                } else if messages.with(Messages::is_empty) {
                    "No messages yet. Say hello!"
                } else {
                    "This is the beginning of the room."
                }
            }}
        </p>
    }
}

/// "3 new messages ↓" while scrolled up, which goes to the bottom.
#[component]
fn NewPill(scroller: Scroller) -> impl IntoView {
    let unread = scroller.unread;
    view! {
        <Show when=move || { unread.get() > 0 }>
            <button class="new-pill" on:click=move |_| scroller.to_bottom()>
                {move || match unread.get() {
                    1 => "1 new message ↓".to_owned(),
                    n => format!("{n} new messages ↓"),
                }}
            </button>
        </Show>
    }
}
