//! What the tabs want and tell each other: this tab's wishes, the notes as they arrive,
//! and the pings that find a frozen leader.

use super::{FORGET_MS, Link, PING, SETTLE, SILENT_MS, Subscriber, lock::request_lead};
use crate::app::{
    client,
    live::plan::{Interest, Note},
};
use std::rc::Rc;

impl Link {
    /// What this tab's subscribers want, as one.
    pub(super) fn own_interest(&self) -> Interest {
        let subscribers: Vec<Rc<Subscriber>> =
            self.subscribers.borrow().values().cloned().collect();
        subscribers
            .iter()
            .map(|s| (s.interest)())
            .fold(Interest::default(), Interest::merge)
    }

    pub(super) fn interest_changed(&self) {
        if self.away.get() {
            return;
        }
        let interest = self.own_interest();
        if self.leads() {
            self.wanted(&self.me.clone(), interest);
        } else {
            self.synced.set(false);
            self.post(&Note::Want {
                tab: self.me.clone(),
                interest,
            });
        }
    }

    /// A tab's wish, as the leader. A tab behind the stream gets it reopened from where
    /// it stands; the open stream's events stop counting at once (a new generation),
    /// or they would move the floor past what that tab is missing.
    fn wanted(&self, tab: &str, interest: Interest) {
        let reopen = self.plan.borrow_mut().want(tab, interest, client::now_ms());
        if reopen {
            self.generation.set(self.generation.get() + 1);
            self.schedule_reopen(SETTLE);
        }
    }

    pub(super) fn on_note(&self, note: Note) {
        if !self.leads()
            && matches!(
                note,
                Note::Lead { .. } | Note::Heard { .. } | Note::Status { .. } | Note::Event { .. }
            )
        {
            self.drop_early();
        }
        match note {
            Note::Want { tab, interest } if self.leads() => {
                self.wanted(&tab, interest);
                self.post(&Note::Heard { tab });
                self.post_status();
            }
            Note::Ping { tab } if self.leads() => {
                let known = self.plan.borrow_mut().heard(&tab, client::now_ms());
                if known {
                    self.post_status();
                } else {
                    // Forgotten while it was frozen: have every tab say again.
                    self.post(&Note::Lead {
                        tab: self.me.clone(),
                    });
                }
            }
            Note::Bye { tab } if self.leads() && self.plan.borrow_mut().bye(&tab) => {
                self.schedule_reopen(SETTLE);
            }
            // (A leader that was stolen from learns it from its lock request, which
            // rejects: a late `Lead` must not make the real holder step down.)
            Note::Lead { tab } if tab != self.me && !self.leads() => {
                self.pinged_at.set(None);
                self.interest_changed();
            }
            Note::Heard { tab } if tab == self.me => self.synced.set(true),
            Note::Status { status } if !self.leads() => {
                self.pinged_at.set(None);
                if self.status.replace(status) != status {
                    self.notify_status();
                }
            }
            Note::Event { name, data, id } if !self.leads() => {
                self.pinged_at.set(None);
                if self.synced.get() {
                    self.dispatch(&name, &data, &id);
                }
            }
            _ => {}
        }
    }

    /// Every `PING`: a follower pings, or takes the lead from a leader that stopped
    /// answering; the leader forgets the tabs that stopped pinging.
    pub(super) fn tick(&self) {
        if self.away.get() {
            return;
        }
        let now = client::now_ms();
        // Asleep or frozen since the last tick: the leader may have been too; give it a
        // fresh chance to answer before anyone takes the lead.
        if now - self.ticked_at.replace(now) > 2.0 * PING.as_millis() as f64 {
            self.pinged_at.set(None);
        }
        if self.leads() {
            let expired = self.plan.borrow_mut().expire(now - FORGET_MS, &self.me);
            if expired {
                self.schedule_reopen(SETTLE);
            }
            return;
        }
        match self.pinged_at.get() {
            Some(at) if now - at > SILENT_MS => {
                self.pinged_at.set(None);
                request_lead(true);
            }
            pinged => {
                if pinged.is_none() {
                    self.pinged_at.set(Some(now));
                }
                self.post(&Note::Ping {
                    tab: self.me.clone(),
                });
            }
        }
    }
}
