//! The outbox and the session it sends in: each message goes only in the session it was
//! typed in (its tag, `client::Signed`), and the outbox is emptied once the page learns
//! that its session has ended.
//!
//! The page learns it from a `401` (`client::session_ended`, from the outbox's posts and
//! from the calls of `client` that need the session), from a sign-out here or in another
//! tab (the `storage` event of `client::SESSION_KEY`), or by seeing the session signed out
//! where the browser still held one: a page rendered signed out (`whoami`), say after the
//! cookie expired or a sign-out without JavaScript.

use super::{Outbox, stored::change};
use crate::{
    app::{SessionContext, client},
    message::{DisplayName, SessionInfo},
};
use gloo_net::http::Request;
use leptos::{prelude::*, task::spawn_local};

/// Empties the outbox and shows the page signed out whenever its session ends, and
/// checks who the page shows as signed in against the session the browser holds:
/// whenever it changes, and at once (a page may have been rendered after the session
/// ended).
pub fn follow(outbox: Outbox, session: SessionContext) {
    client::on_session_end(move || {
        change(outbox, Vec::clear);
        session.known.set(Some(None));
    });
    Effect::new(move |_| {
        let shown = session.name();
        untrack(|| check(outbox, session, shown));
    });
}

/// Who the page shows signed in (`shown`) against the session the browser holds.
fn check(outbox: Outbox, session: SessionContext, shown: Option<DisplayName>) {
    match (shown, client::signed()) {
        (None, None) => {}
        // The same: shown as stored (what another session left goes).
        (Some(name), Some(held)) if held.name.same_name(&name) => {
            change(outbox, |_| {});
        }
        // They differ: the page was rendered signed out (or as another name) while the
        // browser held a session, or signed in with a session it holds no tag for (one
        // signed in without JavaScript, or before sessions had tags). The server says
        // which is right; without an answer (offline), the page as rendered is.
        (shown, held) => spawn_local(async move {
            // Without an answer, since when it holds the name is not known (`""`).
            let shown = shown.map(|name| SessionInfo {
                name,
                since: String::new(),
            });
            match signed_in().await.unwrap_or(shown) {
                Some(holding) => {
                    let name = holding.name.clone();
                    let held = client::signed();
                    if !held.as_ref().is_some_and(|held| held.name.same_name(&name)) {
                        // The pages kept while the browser held another session show it.
                        // (Not for a session first seen with none held: what was kept
                        // since the last one ended shows nobody, or this one.)
                        if held.is_some() {
                            client::forget_offline_pages();
                        }
                        client::begin_session(holding);
                    }
                    session.known.set(Some(Some(name)));
                }
                None => client::session_ended(held.map(|held| held.tag)),
            }
        }),
    }
}

/// Another tab changed the session: signed out (or learned that the session had ended),
/// and so has this tab; or signed in, and this one shows it (and sends as it).
pub fn changed_elsewhere(outbox: Outbox, session: SessionContext) {
    match client::signed() {
        None => client::session_ended(None),
        Some(held) => {
            session.known.maybe_update(|known| {
                let changed = !matches!(known, Some(Some(name)) if name.same_name(&held.name));
                *known = Some(Some(held.name));
                changed
            });
            change(outbox, |_| {});
        }
    }
}

/// The tag of the session `sender` types in: the session the browser holds, if it is
/// theirs (a session the page shows and the browser has no tag for yet gets one).
pub fn tag_for(session: SessionContext, sender: &DisplayName) -> Option<String> {
    match client::signed() {
        Some(held) => held.name.same_name(sender).then_some(held.tag),
        None if session
            .name_untracked()
            .is_some_and(|name| name.same_name(sender)) =>
        {
            // (Since when is not known here: `follow` asks the server at once.)
            let holding = SessionInfo {
                name: sender.clone(),
                since: String::new(),
            };
            Some(client::begin_session(holding).tag)
        }
        None => None,
    }
}

/// `GET /api/session`: the session signed in, if any; `Err` when there is no answer.
async fn signed_in() -> Result<Option<SessionInfo>, ()> {
    let response = Request::get("/api/session").send().await.map_err(drop)?;
    match response.status() {
        200 => Ok(response.json::<SessionInfo>().await.ok()),
        401 => Ok(None),
        _ => Err(()),
    }
}
