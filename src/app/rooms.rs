//! What the lobby shows under its title, a part the lobby mounts at once (`later.rs`):
//! who you are (or the form to pick a name), the form to open a room, and the active
//! rooms.

use super::{SessionContext, identity::Identity, sign_in::SignInForm};
use crate::message::{RoomName, RoomSummary};
use leptos::{ev, prelude::*};
use leptos_router::{components::A, hooks::use_navigate};

/// The lobby's active rooms.
pub type ActiveRooms = Resource<Result<Vec<RoomSummary>, ServerFnError>>;

/// Who you are (or the form to pick a name), the form to open a room, and the active
/// rooms.
pub fn lobby_body(rooms: ActiveRooms) -> impl IntoView {
    let session = expect_context::<SessionContext>();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let _ = session.whoami.await;
                let name = move || session.name().map(|n| n.to_string()).unwrap_or_default();
                view! {
                    <Show
                        when=move || session.name().is_some()
                        fallback=|| view! { <SignInForm prompt="Pick a name to chat under" /> }
                    >
                        <div class="greeting-row">
                            <p class="greeting">"Hello, " <strong>{name}</strong> "."</p>
                            <Identity />
                        </div>
                    </Show>
                }
            })}
        </Suspense>
        <JoinRoom />
        <section aria-labelledby="active-rooms">
            <h2 id="active-rooms">"Active rooms"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    match rooms.await {
                        Ok(rooms) => view! { <RoomList rooms /> }.into_any(),
                        Err(error) => view! {
                            <p class="field-error">"Could not load rooms: " {error.to_string()}</p>
                        }
                        .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RoomList(rooms: Vec<RoomSummary>) -> impl IntoView {
    view! {
        <ul class="room-list">
            {rooms
                .into_iter()
                .map(|room| {
                    let href = format!("/r/{}", room.name);
                    let activity = room
                        .last_message_at
                        .map(|at| format!("last message {} UTC", at.get(..16).unwrap_or_default().replace('T', " ")))
                        .unwrap_or_else(|| "no messages yet".into());
                    view! {
                        <li>
                            <A href=href>
                                <span class="room-name">"#" {room.name.to_string()}</span>
                                <span class="muted">{activity}</span>
                            </A>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// Go to a room by name. Without JavaScript the form asks `/join`, which redirects.
#[component]
fn JoinRoom() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let problem = Memo::new(move |_| {
        name.with(|raw| {
            let raw = raw.trim();
            (!raw.is_empty())
                .then(|| RoomName::parse(raw).err().map(|e| e.to_string()))
                .flatten()
        })
    });
    let navigate = use_navigate();
    let submit = move |event: ev::SubmitEvent| {
        event.prevent_default();
        if let Ok(room) = RoomName::parse(name.get_untracked().trim()) {
            navigate(&format!("/r/{room}"), Default::default());
        }
    };

    view! {
        <form class="join" method="get" action="/join" on:submit=submit>
            <label for="room">"Open a room"</label>
            <div class="row">
                <span class="hash" aria-hidden="true">"#"</span>
                <input
                    id="room"
                    name="room"
                    placeholder="everyone"
                    maxlength="32"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    prop:value=name
                    on:input=move |event| name.set(event_target_value(&event))
                    aria-invalid=move || problem.with(Option::is_some).then_some("true")
                    aria-describedby="room-error"
                />
                <button type="submit" disabled=move || problem.with(Option::is_some)>"Go"</button>
            </div>
            <p id="room-error" class="field-error" role="alert">{move || problem.get()}</p>
        </form>
    }
}
