//! Presence and typing in process memory: one node, so this node's count is the whole
//! truth and nothing expires.

use super::MemoryBroker;
use crate::{
    awareness::{JOIN_LEAVE_LIMIT, ONLINE_LIST_LIMIT, PersonEventKind, Presence},
    message::{DisplayName, RoomName},
    server::broker::{Awareness, BrokerError, BrokerResult, Holder, Names},
};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// A room's presence from its people (canonical name → name, so in order).
fn snapshot(room: &RoomName, people: Option<&BTreeMap<String, DisplayName>>) -> Presence {
    Presence {
        room: room.clone(),
        online: people
            .into_iter()
            .flat_map(BTreeMap::values)
            .take(ONLINE_LIST_LIMIT)
            .cloned()
            .collect(),
        count: people.map_or(0, BTreeMap::len),
    }
}

impl MemoryBroker {
    /// Tells the room that `name` joined or left (`people` is the room after): by name
    /// while the room has at most [`JOIN_LEAVE_LIMIT`] people before and after; by its
    /// whole presence when the change crosses that limit, either way; else not at all.
    fn announce(
        &self,
        kind: PersonEventKind,
        room: &RoomName,
        name: &DisplayName,
        people: &BTreeMap<String, DisplayName>,
    ) {
        let after = people.len();
        let before = if kind == PersonEventKind::Join {
            after - 1
        } else {
            after + 1
        };
        match (before <= JOIN_LEAVE_LIMIT, after <= JOIN_LEAVE_LIMIT) {
            (true, true) => self.hub.person(kind, room, name),
            (false, false) => {}
            _ => self.hub.presence(&snapshot(room, Some(people))),
        }
    }
}

#[async_trait]
impl Awareness for MemoryBroker {
    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        if !self.holds(person).await? {
            return Ok(None);
        }
        let mut presence = self.presence.lock().expect("presence lock poisoned");
        if !register {
            return Ok(Some(snapshot(room, presence.get(room))));
        }
        let people = presence.entry(room.clone()).or_default();
        let name = &person.name;
        if people.insert(name.canonical(), name.clone()).is_none() {
            // Under the lock, so that a join and a leave of one person go out in order.
            self.announce(PersonEventKind::Join, room, name, people);
        }
        Ok(Some(snapshot(room, Some(people))))
    }

    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()> {
        let mut presence = self.presence.lock().expect("presence lock poisoned");
        let Some(people) = presence.get_mut(room) else {
            return Ok(());
        };
        if let Some(name) = people.remove(&person.canonical()) {
            self.announce(PersonEventKind::Leave, room, &name, people);
        }
        if people.is_empty() {
            presence.remove(room);
        }
        Ok(())
    }

    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        let presence = self.presence.lock().expect("presence lock poisoned");
        Ok(snapshot(room, presence.get(room)))
    }

    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        if !self.holds(person).await? {
            return Err(BrokerError::Revoked);
        }
        let name = &person.name;
        if self
            .typing_limit
            .check(&(room.clone(), name.canonical()))
            .is_ok()
        {
            self.hub.person(PersonEventKind::Typing, room, name);
        }
        Ok(())
    }

    /// One node: the tracker's own count is the whole truth, nothing expires.
    async fn refresh(&self, _: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        Ok(())
    }
}
