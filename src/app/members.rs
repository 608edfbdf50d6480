//! Who is here: the room's member list, a sidebar on wide screens and, on small ones, a
//! sheet behind a header button that shows the count. The server renders it (so it
//! reads without JavaScript, where the button is a link to `#members` and CSS's
//! `:target` opens the sheet); the stream keeps it current.

#[cfg(not(feature = "ssr"))]
use super::feed::Feed;
use super::{SessionContext, identity::Avatar};
use crate::{awareness::Presence, message::DisplayName};
use leptos::{ev, prelude::*};

/// Whether the small-screen sheet is open.
#[derive(Clone, Copy)]
pub struct Sheet(pub RwSignal<bool>);

/// Who is here, as a part shows it: in the browser, the feed's, which the stream keeps
/// current; on the server, the presence the page read (`served`).
///
/// The server never writes the feed's: the page's parts are rendered concurrently, on
/// several threads, and reactive_graph reads a signal with `try_read`, so a part that read
/// it while another part seeded it panicked as if it had been disposed (seen in
/// `chat-bench page`, about once in 950,000 pages; `docs/ARCHITECTURE.md`, ledger 10).
/// `served` is written
/// once, when the part is created, and only read after.
#[derive(Clone, Copy)]
struct Shown {
    #[cfg(feature = "ssr")]
    served: StoredValue<Option<Presence>>,
    #[cfg(not(feature = "ssr"))]
    feed: Feed,
}

impl Shown {
    fn new(served: Option<Presence>) -> Self {
        #[cfg(feature = "ssr")]
        {
            Shown {
                served: StoredValue::new(served),
            }
        }
        #[cfg(not(feature = "ssr"))]
        {
            let _ = served;
            Shown {
                feed: expect_context::<Feed>(),
            }
        }
    }

    fn with<R>(&self, f: impl FnOnce(Option<&Presence>) -> R) -> R {
        #[cfg(feature = "ssr")]
        {
            self.served.with_value(|served| f(served.as_ref()))
        }
        #[cfg(not(feature = "ssr"))]
        {
            self.feed.members.with(|m| f(m.as_ref()))
        }
    }

    fn count(&self) -> usize {
        self.with(|m| m.map_or(0, |m| m.count))
    }
}

/// "1 person here", "3 people here".
fn people_here(count: usize) -> String {
    match count {
        1 => "1 person here".to_owned(),
        n => format!("{n} people here"),
    }
}

/// The header's button: how many are here; opens the sheet on small screens.
/// `served`: who is here as the page read it (the server shows it; the browser shows
/// the feed's).
#[component]
pub fn MembersButton(served: Option<Presence>) -> impl IntoView {
    let shown = Shown::new(served);
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
            aria-label=move || people_here(shown.count())
            on:click=toggle
        >
            <span class="members-icon" aria-hidden="true"></span>
            <span class="members-count">{move || shown.count()}</span>
        </a>
    }
}

/// `served`: as for [`MembersButton`].
#[component]
pub fn MemberList(served: Option<Presence>) -> impl IntoView {
    let shown = Shown::new(served);
    let session = expect_context::<SessionContext>();
    let Sheet(open) = expect_context::<Sheet>();
    let online = move || shown.with(|m| m.map_or_else(Vec::new, |m| m.online.clone()));
    let unlisted = move || shown.with(|m| m.map_or(0, |m| m.count.saturating_sub(m.online.len())));
    let count = move || shown.count();
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
                <span class="members-total" aria-label=move || people_here(count())>
                    {count}
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
            <Show when=move || { count() == 0 }>
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
