//! Picking a display name. Without JavaScript, a plain form post to a server function,
//! which redirects back to the page; with it, `POST /api/session` and an inline answer.

use super::{SessionContext, client, data::SignIn};
use crate::message::DisplayName;
use leptos::server_fn::ServerFn;
use leptos::{ev, prelude::*, task::spawn_local};

#[component]
pub fn SignInForm(#[prop(into)] prompt: String) -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let submit = move |event: ev::SubmitEvent| {
        event.prevent_default();
        let raw = name.get_untracked();
        if let Err(invalid) = DisplayName::parse(&raw) {
            error.set(Some(invalid.to_string()));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match client::sign_in(&raw).await {
                Ok(name) => {
                    error.set(None);
                    session.signed_in.set(Some(name));
                }
                Err(message) => error.set(Some(message)),
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
                    prop:value=name
                    on:input=move |event| {
                        name.set(event_target_value(&event));
                        error.set(None);
                    }
                    aria-invalid=move || error.with(Option::is_some).then_some("true")
                    aria-describedby="name-error"
                />
                <button type="submit" disabled=move || busy.get()>"Join"</button>
            </div>
            <p id="name-error" class="field-error" role="alert">{move || error.get()}</p>
        </form>
    }
}
