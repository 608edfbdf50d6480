//! Taking and giving up the lead: the lock granted, lost or out of reach, and the page
//! leaving, coming back from the back-forward cache, or going online.

use super::{Link, SETTLE, lock::request_lead};
use crate::app::{
    client,
    live::{
        Connection, Role,
        plan::{Note, Plan},
    },
};
use std::{rc::Rc, time::Duration};
use wasm_bindgen::JsValue;

impl Link {
    /// The lock is ours: lead.
    pub(super) fn lead(&self, release: js_sys::Function) {
        if self.away.get() || self.role.get() == Role::Leader {
            // Granted to a page that is leaving, or a second time after a steal.
            let _ = release.call0(&JsValue::NULL);
            return;
        }
        *self.release.borrow_mut() = Some(release);
        self.role.set(Role::Leader);
        *self.plan.borrow_mut() = Plan::default();
        self.post(&Note::Lead {
            tab: self.me.clone(),
        });
        let interest = self.own_interest();
        let _ = self
            .plan
            .borrow_mut()
            .want(&self.me, interest, client::now_ms());
        self.notify_status();
        // At once, for this tab's rooms: a tab alone (most page loads) waits for nobody.
        // The other tabs' wishes, answering `Lead`, reopen it a moment later.
        if !self.adopt_early() {
            self.schedule_reopen(Duration::ZERO);
        }
        self.wake();
    }

    /// No longer the leader: the page is leaving, or another tab took the lock.
    pub(super) fn step_down(&self) {
        if self.role.get() != Role::Leader {
            return;
        }
        self.role.set(Role::Follower);
        self.close_stream();
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
        self.status.set(Connection::Connecting);
        self.notify_status();
    }

    /// The lock cannot be had at all: hold a stream of this tab's own.
    pub(super) fn go_solo(&self) {
        if self.role.get() == Role::Solo {
            return;
        }
        self.role.set(Role::Solo);
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
        }
        *self.plan.borrow_mut() = Plan::default();
        self.interest_changed();
        self.notify_status();
        self.wake();
    }

    /// `pagehide`: the page is closing, or going into the back-forward cache.
    pub(super) fn leave(&self) {
        self.away.set(true);
        self.drop_early();
        self.post(&Note::Bye {
            tab: self.me.clone(),
        });
        if self.role.get() == Role::Solo {
            self.close_stream();
        } else {
            self.step_down();
        }
    }

    /// `pageshow` from the back-forward cache: take part again.
    pub(super) fn come_back(&self) {
        self.away.set(false);
        self.pinged_at.set(None);
        if self.role.get() == Role::Solo {
            self.plan.borrow_mut().closed();
            self.schedule_reopen(SETTLE);
        } else {
            request_lead(false);
            self.interest_changed();
        }
    }

    pub(super) fn online(&self) {
        self.notify_status();
        if self.leads() && self.status.get() != Connection::Live {
            self.schedule_reopen(Duration::ZERO);
        }
        self.wake();
    }

    pub(super) fn wake(&self) {
        if !self.leads() {
            return;
        }
        let wakers: Vec<Rc<dyn Fn()>> = self.wakers.borrow().clone();
        for wake in wakers {
            wake();
        }
    }
}
