//! The leader's stream: opened for the plan, reopened when it must be, its events handed
//! to this tab's subscribers and to the other tabs, and its state shown to both.

use super::{Link, RETRY, Subscriber, link};
use crate::{
    app::live::{Connection, LiveStream, plan::Note, stream_url},
    awareness,
};
use leptos::prelude::{set_timeout, window};
use std::{rc::Rc, time::Duration};

impl Link {
    pub(super) fn close_stream(&self) {
        self.generation.set(self.generation.get() + 1);
        self.stream.borrow_mut().take();
        self.plan.borrow_mut().closed();
    }

    /// Reopens the stream after `after`, once however often it is asked for meanwhile.
    /// Always from a timer: never from inside the stream's own callbacks, which the old
    /// stream's drop would free while they run.
    pub(super) fn schedule_reopen(&self, after: Duration) {
        if self.reopening.replace(true) {
            return;
        }
        set_timeout(
            || {
                let link = link();
                link.reopening.set(false);
                link.reopen();
            },
            after,
        );
    }

    pub(super) fn reopen(&self) {
        if !self.leads() || self.away.get() {
            return;
        }
        self.close_stream();
        let Some(request) = self.plan.borrow_mut().request() else {
            return;
        };
        let generation = self.generation.get();
        if self.status.get() == Connection::Offline {
            self.status.set(Connection::Connecting);
        }
        let opened = LiveStream::open(
            &stream_url(&request),
            Box::new(move || link().upstream_open(generation)),
            Rc::new(move |name, data, id| link().upstream_event(generation, name, data, id)),
            Box::new(move || link().upstream_error(generation)),
        );
        match opened {
            Ok(stream) => *self.stream.borrow_mut() = Some(stream),
            Err(_) => self.upstream_error(generation),
        }
    }

    pub(super) fn upstream_open(&self, generation: u64) {
        if generation == self.generation.get() {
            self.set_status(Connection::Live);
            self.wake();
        }
    }

    pub(super) fn upstream_event(&self, generation: u64, name: &str, data: &str, id: &str) {
        if generation != self.generation.get() {
            return;
        }
        if let Some((room, id)) = awareness::parse_stream_event_id(id) {
            self.plan.borrow_mut().seen(&room, id);
        }
        if name == "resync"
            && let Ok(resync) = serde_json::from_str::<crate::message::Resync>(data)
        {
            self.plan.borrow_mut().resynced(&resync.room);
        }
        self.post(&Note::Event {
            name: name.to_owned(),
            data: data.to_owned(),
            id: id.to_owned(),
        });
        self.dispatch(name, data, id);
    }

    pub(super) fn upstream_error(&self, generation: u64) {
        if generation != self.generation.get() {
            return;
        }
        self.plan.borrow_mut().closed();
        self.set_status(Connection::Reconnecting);
        set_timeout(
            move || {
                let link = link();
                if link.generation.get() == generation {
                    link.schedule_reopen(Duration::ZERO);
                }
            },
            RETRY,
        );
    }

    pub(super) fn set_status(&self, status: Connection) {
        self.status.set(status);
        self.post_status();
        self.notify_status();
    }

    pub(super) fn post_status(&self) {
        self.post(&Note::Status {
            status: self.status.get(),
        });
    }

    /// Offline when the browser says so, else the stream's state.
    pub(super) fn shown_status(&self) -> Connection {
        if window().navigator().on_line() {
            self.status.get()
        } else {
            Connection::Offline
        }
    }

    pub(super) fn notify_status(&self) {
        let (status, role) = (self.shown_status(), self.role.get());
        let subscribers: Vec<Rc<Subscriber>> =
            self.subscribers.borrow().values().cloned().collect();
        for subscriber in subscribers {
            (subscriber.on_status)(status, role);
        }
    }

    pub(super) fn dispatch(&self, name: &str, data: &str, id: &str) {
        let subscribers: Vec<Rc<Subscriber>> =
            self.subscribers.borrow().values().cloned().collect();
        for subscriber in subscribers {
            (subscriber.on_event)(name, data, id);
        }
    }
}
