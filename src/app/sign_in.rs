//! Picking (or changing) a display name. Without JavaScript, a plain form post to a
//! server function, which redirects back to the page, carrying the reason in the URL if
//! it refused; with it, `POST /api/session` and an inline answer. Either way the form
//! says why (for example that the name is taken) and keeps what was typed.

use super::{
    SessionContext, client,
    data::{FormError, SignIn},
};
use crate::message::DisplayName;
use leptos::server_fn::{ServerFn, error::ServerFnUrlError};
use leptos::{ev, prelude::*, task::spawn_local};
use leptos_router::hooks::use_query_map;

/// An error message as a sentence: the API's messages start in lowercase.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What the form says for a refusal carried back in the URL, by its code: a fixed text,
/// never the URL's own (anyone can write a link with any text in it).
fn said_for(code: &str) -> &'static str {
    match code {
        "name_taken" => "That name is taken by someone who is signed in; pick another",
        "invalid_name" => "A name is 1 to 24 characters: letters, digits, spaces, '_', '-' and '.'",
        "rate_limited" => "Too many sign-ins from here; try again in a minute",
        "unavailable" => "The chat cannot be reached just now; try again soon",
        _ => "That did not work; try again",
    }
}

/// The refusal of a no-JS sign-in, when the page was redirected back with one.
fn refused_without_js() -> Option<FormError> {
    let query = use_query_map();
    let query = query.read_untracked();
    if query.get("__path").as_deref() != Some(SignIn::PATH) {
        return None;
    }
    let error = ServerFnUrlError::<ServerFnError>::decode_err(&query.get("__err")?);
    let mut refused = FormError::from_server_error(&error, "");
    refused.message = said_for(&refused.code).to_owned();
    Some(refused)
}

#[component]
pub fn SignInForm(
    #[prop(into)] prompt: String,
    #[prop(into, default = "Join".into())] button: String,
    /// What the box holds at first (the current name, when changing it).
    #[prop(into, default = String::new())]
    initial: String,
) -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let refused = refused_without_js();
    let initial = refused.as_ref().map_or(initial, |r| r.value.clone());
    let name = RwSignal::new(initial.clone());
    let error = RwSignal::new(refused.map(|r| sentence(&r.message)));
    let busy = RwSignal::new(false);

    let submit = move |event: ev::SubmitEvent| {
        event.prevent_default();
        let raw = name.get_untracked();
        if let Err(invalid) = DisplayName::parse(&raw) {
            error.set(Some(sentence(&invalid.to_string())));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match client::sign_in(&raw).await {
                Ok(holding) => {
                    error.set(None);
                    session.known.set(Some(Some(holding.name)));
                }
                Err(message) => error.set(Some(sentence(&message))),
            }
            busy.set(false);
        });
    };

    view! {
        <form class="sign-in" method="post" action=SignIn::url() on:submit=submit>
            <label for="name">{prompt}</label>
            <div class="row">
                <input
                    id="name"
                    name="name"
                    autocomplete="nickname"
                    maxlength="24"
                    placeholder="Your name"
                    required
                    // The attribute for the server's HTML (and no JS); the property after.
                    value=initial
                    prop:value=name
                    on:input=move |event| {
                        name.set(event_target_value(&event));
                        error.set(None);
                    }
                    aria-invalid=move || error.with(Option::is_some).then_some("true")
                    aria-describedby="name-error"
                />
                <button type="submit" disabled=move || busy.get()>{button}</button>
            </div>
            <p id="name-error" class="field-error" role="alert">{move || error.get()}</p>
        </form>
    }
}
