//! "alice is typing…" under the message list, a part the room mounts once live.

use super::{
    SessionContext,
    feed::{Feed, typing_label},
};
use crate::message::DisplayName;
use leptos::prelude::*;

/// "alice is typing…" under the list; never yourself.
#[component]
pub fn TypingLine() -> impl IntoView {
    let feed = expect_context::<Feed>();
    let session = expect_context::<SessionContext>();
    let label = move || {
        let me = session.name();
        let names: Vec<DisplayName> = feed.typing.with(|typing| {
            typing
                .iter()
                .filter(|t| me.as_ref().is_none_or(|me| !me.same_name(&t.name)))
                .map(|t| t.name.clone())
                .collect()
        });
        typing_label(&names)
    };
    view! { <p class="typing" aria-live="polite">{label}</p> }
}
