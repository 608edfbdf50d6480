//! One event stream for all the tabs of a browser.
//!
//! Each tab asks for the Web Lock named [`CHANNEL`]; the browser grants it to one tab at a
//! time, and gives it to a waiting tab the moment its holder closes or crashes. The holder
//! leads: it opens `GET /api/events` for every room any tab wants ([`Plan`]) and posts
//! each event on a BroadcastChannel (which does not deliver to its sender, so the leader
//! hands its own tab the event directly). The others follow: they say what they want
//! (`Want`), take the events, and drop what they already hold.
//!
//! A leader that is frozen, or kept in the back-forward cache, keeps its lock. So a
//! leader gives up the lead on `pagehide`, and a follower whose pings go unanswered for
//! a few seconds steals the lock. Pings come from the followers and are answered from the
//! leader's message handler, not from its timers: a hidden tab's timers may fire once a
//! minute, its message handlers do not wait.
//!
//! Without Web Locks or BroadcastChannel, the tab holds a stream of its own (`Solo`).
//!
//! A room page asks for its stream before it is hydrated, on a guess of what its feed will
//! want; the tab takes that stream as its own if it leads and the guess was right
//! (`early.rs`).
//!
//! Here: the subscribers and this tab's link to the others. `tabs.rs`: what the tabs want
//! and tell each other. `lead.rs`: taking and giving up the lead as the page comes and
//! goes. `upstream.rs`: the leader's stream itself. `lock.rs`: the Web Lock.

mod early;
mod lead;
mod lock;
mod tabs;
mod upstream;

pub use early::open_early;

use lock::{request_lead, shared_supported};

use super::{
    Connection, LiveStream, Role,
    plan::{CHANNEL, Interest, Note, Plan},
};
use crate::app::client;
use leptos::prelude::{set_interval, window_event_listener_untyped};
use litemap::LiteMap;
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::Duration,
};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{BroadcastChannel, MessageEvent};

/// How long a dropped stream waits before the next try (unless the browser comes online).
const RETRY: Duration = Duration::from_secs(3);
/// How often a follower pings the leader.
const PING: Duration = Duration::from_secs(2);
/// A ping unanswered this long means the leader is frozen: take the lead.
const SILENT_MS: f64 = 3_000.0;
/// Wishes that come together make one reconnect.
const SETTLE: Duration = Duration::from_millis(30);
/// A tab not heard from this long is forgotten (it closed without a word). Longer than a
/// hidden tab's throttled timers (once a minute), so that a hidden tab is not dropped.
const FORGET_MS: f64 = 75_000.0;

/// A handler of the stream's events: name, data, and `<room>/<id>` (or empty).
pub type OnEvent = Box<dyn Fn(&str, &str, &str)>;

/// A part of the page that wants events (a room's feed).
pub struct Subscriber {
    /// The rooms it wants and the newest id it holds in each; asked whenever needed.
    pub interest: Box<dyn Fn() -> Interest>,
    /// Every event of the stream.
    pub on_event: OnEvent,
    /// The connection as the page should show it, and this tab's part.
    pub on_status: Box<dyn Fn(Connection, Role)>,
}

/// Keeps a [`Subscriber`] subscribed; dropping it unsubscribes.
pub struct Subscription(u64);

impl Subscription {
    /// What the subscriber wants changed (a new position after a reload, say).
    pub fn changed(&self) {
        link().interest_changed();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let link = link();
        link.subscribers.borrow_mut().remove(&self.0);
        link.interest_changed();
    }
}

/// Subscribes to the browser's stream; the first subscriber starts this tab's part in it.
pub fn subscribe(subscriber: Subscriber) -> Subscription {
    let link = link();
    let id = link.next.get();
    link.next.set(id + 1);
    (subscriber.on_status)(link.shown_status(), link.role.get());
    link.subscribers
        .borrow_mut()
        .insert(id, Rc::new(subscriber));
    link.interest_changed();
    Subscription(id)
}

/// Calls `wake` whenever this tab may send (the outbox): it became the sender, its
/// stream opened, or the browser came online.
pub fn on_wake(wake: impl Fn() + 'static) {
    link().wakers.borrow_mut().push(Rc::new(wake));
}

/// Whether this tab sends for the browser: the leader does; a tab on its own does.
pub fn sends() -> bool {
    link().role.get() != Role::Follower
}

thread_local! {
    static LINK: Rc<Link> = Rc::new(Link::new());
}

/// This tab's link, started on first use.
fn link() -> Rc<Link> {
    let link = LINK.with(Rc::clone);
    if !link.started.replace(true) {
        link.start();
    }
    link
}

struct Link {
    /// This tab's id among the tabs.
    me: String,
    started: Cell<bool>,
    /// `None`: on its own.
    channel: Option<BroadcastChannel>,
    role: Cell<Role>,
    subscribers: RefCell<LiteMap<u64, Rc<Subscriber>>>,
    next: Cell<u64>,
    wakers: RefCell<Vec<Rc<dyn Fn()>>>,
    /// The stream's state: the leader's own, or what the leader last said.
    status: Cell<Connection>,
    /// Hidden for good or in the back-forward cache: takes no lead.
    away: Cell<bool>,
    // Leading (or on its own):
    plan: RefCell<Plan>,
    stream: RefCell<Option<LiveStream>>,
    /// Which stream the callbacks belong to; a replaced stream's late callbacks are
    /// ignored.
    generation: Cell<u64>,
    /// The stream opened before hydration, until it is taken or given up (`early.rs`).
    early: RefCell<Option<early::Early>>,
    /// The generation it was taken as.
    adopted: Cell<Option<u64>>,
    reopening: Cell<bool>,
    /// Resolving it gives the lock back.
    release: RefCell<Option<js_sys::Function>>,
    // Following:
    /// When the oldest unanswered ping went out.
    pinged_at: Cell<Option<f64>>,
    /// When the last `tick` ran: a long gap means this tab was asleep or frozen.
    ticked_at: Cell<f64>,
    /// The leader has answered this tab's last `Want`. Until then, events are dropped:
    /// they come from a stream planned without this tab's positions, and the leader
    /// replays what this tab needs.
    synced: Cell<bool>,
}

impl Link {
    fn new() -> Self {
        let channel = shared_supported()
            .then(|| BroadcastChannel::new(CHANNEL).ok())
            .flatten();
        Link {
            me: client::new_client_id(),
            started: Cell::new(false),
            role: Cell::new(if channel.is_some() {
                Role::Follower
            } else {
                Role::Solo
            }),
            channel,
            subscribers: RefCell::default(),
            next: Cell::new(0),
            wakers: RefCell::default(),
            status: Cell::new(Connection::Connecting),
            away: Cell::new(false),
            plan: RefCell::default(),
            stream: RefCell::new(None),
            generation: Cell::new(0),
            early: RefCell::new(None),
            adopted: Cell::new(None),
            reopening: Cell::new(false),
            release: RefCell::new(None),
            pinged_at: Cell::new(None),
            ticked_at: Cell::new(0.0),
            synced: Cell::new(false),
        }
    }

    /// Listens to the other tabs and the page's life, and asks for the lead. The
    /// listeners live as long as the page.
    fn start(&self) {
        if let Some(channel) = &self.channel {
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
                if let Some(note) = event.data().as_string().and_then(|n| Note::decode(&n)) {
                    link().on_note(note);
                }
            });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
            request_lead(false);
            set_interval(|| link().tick(), PING);
        }
        window_event_listener_untyped("pagehide", |_| link().leave());
        window_event_listener_untyped("pageshow", |event| {
            let restored = event
                .dyn_ref::<web_sys::PageTransitionEvent>()
                .is_some_and(|e| e.persisted());
            if restored {
                link().come_back();
            }
        });
        window_event_listener_untyped("online", |_| link().online());
        window_event_listener_untyped("offline", |_| link().notify_status());
    }

    fn leads(&self) -> bool {
        self.role.get() != Role::Follower
    }

    fn post(&self, note: &Note) {
        if self.role.get() == Role::Solo {
            return;
        }
        if let Some(channel) = &self.channel {
            let _ = channel.post_message(&JsValue::from_str(&note.encode()));
        }
    }
}
