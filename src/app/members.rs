//! Who is here: the room's member list, a sidebar on wide screens and, on small ones, a
//! sheet behind a header button that shows the count. The server renders it (so it
//! reads without JavaScript, where the button is a link to `#members` and CSS's
//! `:target` opens the sheet); the stream keeps it current.

use super::{SessionContext, feed::Feed, identity::Avatar};
use crate::{awareness::Presence, message::DisplayName};
use leptos::{ev, prelude::*};

/// Whether the small-screen sheet is open.
#[derive(Clone, Copy)]
pub struct Sheet(pub RwSignal<bool>);

fn count(feed: Feed) -> usize {
    feed.members.with(|m| m.as_ref().map_or(0, |m| m.count))
}

/// "1 person here", "3 people here".
fn people_here(count: usize) -> String {
    match count {
        1 => "1 person here".to_owned(),
        n => format!("{n} people here"),
    }
}

/// The header's button: how many are here; opens the sheet on small screens.
#[component]
pub fn MembersButton() -> impl IntoView {
    let feed = expect_context::<Feed>();
    let Sheet(open) = expect_context::<Sheet>();
    let toggle = move |event: ev::MouseEvent| {
        event.prevent_default();
        open.update(|open| *open = !*open);
    };
    view! {
        <a
            class="members-button"
            href="#members"
            role="button"
            aria-controls="members"
            aria-expanded=move || open.get().to_string()
            aria-label=move || people_here(count(feed))
            on:click=toggle
        >
            <span class="members-icon" aria-hidden="true"></span>
            <span class="members-count">{move || count(feed)}</span>
        </a>
    }
}

#[component]
pub fn MemberList() -> impl IntoView {
    let feed = expect_context::<Feed>();
    let session = expect_context::<SessionContext>();
    let Sheet(open) = expect_context::<Sheet>();
    let online = move || {
        feed.members
            .with(|m| m.as_ref().map_or_else(Vec::new, |m| m.online.clone()))
    };
    let unlisted = move || {
        feed.members.with(|m| {
            m.as_ref()
                .map_or(0, |m: &Presence| m.count.saturating_sub(m.online.len()))
        })
    };
    let close = move |event: ev::MouseEvent| {
        event.prevent_default();
        open.set(false);
    };
    let escape = move |event: ev::KeyboardEvent| {
        if event.key() == "Escape" {
            open.set(false);
        }
    };
    view! {
        <aside
            id="members"
            class="members"
            class:open=move || open.get()
            aria-labelledby="members-title"
            on:keydown=escape
        >
            <div class="members-head">
                <h2 id="members-title">"Here now"</h2>
                <span class="members-total" aria-label=move || people_here(count(feed))>
                    {move || count(feed)}
                </span>
                <a class="sheet-close" href="#" aria-label="Close" on:click=close>"×"</a>
            </div>
            <ul class="member-list">
                <For each=online key=DisplayName::canonical let(name)>
                    <Member name session />
                </For>
            </ul>
            <Show when=move || { unlisted() > 0 }>
                <p class="members-more muted">{move || format!("and {} more", unlisted())}</p>
            </Show>
            <Show when=move || { count(feed) == 0 }>
                <p class="members-more muted">"Nobody is here right now."</p>
            </Show>
        </aside>
    }
}

#[component]
fn Member(name: DisplayName, session: SessionContext) -> impl IntoView {
    let me = {
        let name = name.clone();
        Memo::new(move |_| session.name().is_some_and(|me| me.same_name(&name)))
    };
    view! {
        <li class="member" class:me=move || me.get()>
            <Avatar name=name.clone() />
            <span class="member-name">{name.to_string()}</span>
            <Show when=move || me.get()>
                <span class="muted you">"(you)"</span>
            </Show>
        </li>
    }
}
