//! Who you are: an avatar for every name, and the header's account menu (your name, a
//! change of name, sign-out), which works as plain forms without JavaScript.

use super::{SessionContext, client, data::SignOut, sign_in::SignInForm};
use crate::message::DisplayName;
use leptos::server_fn::ServerFn;
use leptos::{ev, prelude::*, task::spawn_local};

/// How many avatar colours `style/main.css` defines (`.hue-0` …).
const HUES: u64 = 12;

/// The initials of a name: the first letter of its first two words, uppercased.
pub fn initials(name: &DisplayName) -> String {
    name.as_str()
        .split(|c: char| c.is_whitespace() || matches!(c, '_' | '-' | '.'))
        .filter_map(|word| word.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// The avatar colour of a name: the same for every spelling of one name, everywhere.
/// (FNV-1a: tiny, stable across builds and targets, unlike `std`'s hasher.)
pub fn hue(name: &DisplayName) -> u64 {
    let hash = name
        .canonical()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    hash % HUES
}

/// Initials on a colour derived from the name. A class, not an inline style, so the
/// page's CSP needs no `'unsafe-inline'` for styles.
#[component]
pub fn Avatar(name: DisplayName) -> impl IntoView {
    view! {
        <span class=format!("avatar hue-{}", hue(&name)) aria-hidden="true">
            {initials(&name)}
        </span>
    }
}

/// The signed-in person in the header: avatar and name, and behind them (a `<details>`,
/// so it opens without JavaScript too) a form to change the name and one to sign out.
///
/// It reads the name from the session context rather than taking it as a prop, and its
/// parent mounts it once (`<Show>`), so a change of name updates the text in place
/// instead of rebuilding the forms inside (which tachys 0.2 cannot do for a `prop:`
/// binding: it panics).
#[component]
pub fn Identity() -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let name = Memo::new(move |_| session.name());
    let label = move || name.get().map_or_else(String::new, |n| n.to_string());
    // The menu closes once the name has changed.
    let menu = NodeRef::<leptos::html::Details>::new();
    Effect::new(move |previous: Option<Option<DisplayName>>| {
        let current = name.get();
        if previous.is_some_and(|previous| previous != current)
            && let Some(menu) = menu.get_untracked()
        {
            let _ = menu.remove_attribute("open");
        }
        current
    });
    let sign_out = move |event: ev::SubmitEvent| {
        event.prevent_default();
        spawn_local(async move {
            if client::sign_out().await.is_ok() {
                session.known.set(Some(None));
            }
        });
    };
    view! {
        <details class="identity" node_ref=menu>
            <summary aria-label=move || format!("Signed in as {}. Account", label())>
                <span class=move || name.get().map_or_else(String::new, |n| format!("avatar hue-{}", hue(&n)))
                    aria-hidden="true">
                    {move || name.get().map(|n| initials(&n))}
                </span>
                <span class="me">{label}</span>
            </summary>
            <div class="identity-menu">
                <SignInForm prompt="Change your name" button="Change" initial=label() />
                <form method="post" action=SignOut::url() on:submit=sign_out>
                    <button type="submit" class="secondary">"Sign out"</button>
                </form>
            </div>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> DisplayName {
        DisplayName::parse(raw).unwrap()
    }

    #[test]
    fn initials_take_the_first_letters_of_two_words() {
        assert_eq!(initials(&name("alice")), "A");
        assert_eq!(initials(&name("mary jane watson")), "MJ");
        assert_eq!(initials(&name("zoë_山田")), "Z山");
        assert_eq!(initials(&name("ß")), "SS");
    }

    #[test]
    fn one_name_has_one_colour_in_any_case() {
        assert_eq!(hue(&name("Alice")), hue(&name("alice")));
        let hues: std::collections::BTreeSet<_> = ["ann", "bob", "carol", "dave", "erin", "frank"]
            .map(|n| hue(&name(n)))
            .into();
        assert!(hues.len() > 2, "names spread over colours: {hues:?}");
    }
}
