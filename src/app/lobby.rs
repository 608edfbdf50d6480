//! `/`: pick a name, then a room: an active one, or any new name.

use super::{
    data,
    later::{Later, Part},
};
use leptos::prelude::*;

/// The page: its frame hydrates; what is on it is a [`Later`] part, mounted at once.
#[component]
pub fn Lobby() -> impl IntoView {
    // Here, where the browser hydrates, so that it reads the server's answer.
    let rooms = Resource::new(|| (), |_| data::rooms());
    #[cfg(not(feature = "ssr"))]
    super::later::start(false);
    view! {
        <main class="page narrow lobby">
            <header class="lobby-header">
                <h1>"tiny-chat"</h1>
                <p class="tagline">"Rooms that never lose a message."</p>
            </header>
            <Later part=Part::Lobby(rooms) />
        </main>
    }
}
