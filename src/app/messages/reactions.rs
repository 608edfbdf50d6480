//! The reactions under a message: each emoji with how many reacted with it, pressed
//! where you did, and who did in its title. Server-rendered as disabled buttons, so
//! they read without JavaScript; once hydrated, each toggles your reaction.

use super::RowState;
use crate::app::derived;
use crate::message::{DisplayName, Reaction};
use leptos::prelude::*;

/// How many names a reaction's title lists before "and N more".
const TITLE_NAMES: usize = 12;

#[component]
pub(super) fn ReactionBar(state: RowState) -> impl IntoView {
    let reactions = derived(move || {
        state
            .message
            .with(|m| m.as_ref().map(|m| m.reactions.clone()).unwrap_or_default())
    });
    // Keyed by emoji: a count that changes redraws the count, not the button (which
    // keeps the focus after a click).
    let emoji = derived(move || {
        reactions.with(|all| all.iter().map(|r| r.emoji.clone()).collect::<Vec<_>>())
    });
    view! {
        {move || {
            emoji.with(|e| !e.is_empty()).then(|| view! {
                <div class="reactions" role="group" aria-label="Reactions">
                    <For each=move || emoji.get() key=String::clone let(emoji)>
                        <ReactionButton state reactions emoji />
                    </For>
                </div>
            })
        }}
    }
}

#[component]
fn ReactionButton(
    state: RowState,
    reactions: Signal<Vec<Reaction>>,
    emoji: String,
) -> impl IntoView {
    let names = {
        let emoji = emoji.clone();
        derived(move || {
            reactions.with(|all| {
                all.iter()
                    .find(|r| r.emoji == emoji)
                    .map(|r| r.names.clone())
                    .unwrap_or_default()
            })
        })
    };
    let pressed = derived(move || {
        state.me.with(|me| {
            me.as_ref()
                .is_some_and(|me| names.with(|names| names.iter().any(|n| n.same_name(me))))
        })
    });
    let toggle = {
        let emoji = emoji.clone();
        move |_| state.react(emoji.clone(), !pressed.get_untracked())
    };
    view! {
        <button
            type="button"
            class="reaction"
            class:mine=pressed
            aria-pressed=move || pressed.get().to_string()
            title=move || names.with(|names| who_reacted(names))
            disabled=move || !state.hydrated.get() || state.me.with(Option::is_none)
            on:click=toggle
        >
            <span class="emoji">{emoji}</span>
            " "
            <span class="count">{move || names.with(Vec::len)}</span>
        </button>
    }
}

/// "alice, bob", and past a dozen names "…, and 3 more".
pub(super) fn who_reacted(names: &[DisplayName]) -> String {
    let listed = names
        .iter()
        .take(TITLE_NAMES)
        .map(DisplayName::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(TITLE_NAMES) {
        0 => listed,
        more => format!("{listed}, and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<DisplayName> {
        (0..count)
            .map(|i| DisplayName::parse(&format!("p{i}")).unwrap())
            .collect()
    }

    #[test]
    fn a_reaction_says_who_reacted_in_order_and_counts_the_rest() {
        assert_eq!(who_reacted(&names(2)), "p0, p1");
        assert_eq!(who_reacted(&names(TITLE_NAMES)).matches(", ").count(), 11);
        assert!(who_reacted(&names(15)).ends_with("p11, and 3 more"));
    }
}
