//! The browser's side of each call: the JSON API, `localStorage`, focus, the page's
//! visibility, notifications and the service worker.

use super::*;
use crate::message::{EditBody, ErrorBody, SessionInfo};
use gloo_net::http::{Request, RequestBuilder, Response};

/// Sends `request`: its response when the server answered 2xx, else the error
/// message the API gave (or the status), or the network error.
async fn send(request: RequestBuilder) -> Result<Response, String> {
    send_built(request.build().map_err(network)?).await
}

async fn send_built(request: Request) -> Result<Response, String> {
    let response = request.send().await.map_err(network)?;
    if response.ok() {
        return Ok(response);
    }
    Err(match response.json::<ErrorBody>().await {
        Ok(body) => body.error.message,
        Err(_) => format!("the server answered {}", response.status()),
    })
}

/// Sends a request that needs the session, as [`send_built`] does. A `401` says that
/// the session has ended: the page hears of it ([`session_ended`]), unless this browser
/// signed in anew while the request was on its way.
async fn send_signed(request: Request) -> Result<Response, String> {
    let tag = signed().map(|signed| signed.tag);
    let response = request.send().await.map_err(network)?;
    if response.status() == 401 {
        session_ended(tag);
    }
    answer(response).await
}

/// The response, when the server answered 2xx; else the API's error message.
///
/// The same as the end of [`send_built`], on purpose: only the parts loaded once the
/// page is live call this, where `send_built` is in the hydrated frame (history,
/// presence); one function shared by both cost the frame's WASM 224 bytes brotli, of a
/// budget with about 1,000 to spare (`end2end/tests/assets.spec.ts`).
async fn answer(response: Response) -> Result<Response, String> {
    if response.ok() {
        return Ok(response);
    }
    Err(match response.json::<ErrorBody>().await {
        Ok(body) => body.error.message,
        Err(_) => format!("the server answered {}", response.status()),
    })
}

fn network(error: gloo_net::Error) -> String {
    format!("network error: {error}")
}

/// `PATCH /api/rooms/{room}/messages/{id}`: your message with its new text.
pub async fn edit_message(
    room: &RoomName,
    id: MessageId,
    text: &str,
) -> Result<ChatMessage, String> {
    let body = EditBody { text: text.into() };
    let request = Request::patch(&format!("/api/rooms/{room}/messages/{id}"))
        .json(&body)
        .map_err(network)?;
    send_signed(request).await?.json().await.map_err(network)
}

/// `DELETE /api/rooms/{room}/messages/{id}`: your message is gone.
pub async fn delete_message(room: &RoomName, id: MessageId) -> Result<(), String> {
    let request = Request::delete(&format!("/api/rooms/{room}/messages/{id}"));
    send_signed(request.build().map_err(network)?)
        .await
        .map(drop)
}

/// Adds (`on`) or takes back your reaction `emoji` to a message; the message as it
/// then stands.
pub async fn react(
    room: &RoomName,
    id: MessageId,
    emoji: &str,
    on: bool,
) -> Result<ChatMessage, String> {
    let emoji = String::from(js_sys::encode_uri_component(emoji));
    let url = format!("/api/rooms/{room}/messages/{id}/reactions/{emoji}");
    let request = if on {
        Request::put(&url)
    } else {
        Request::delete(&url)
    };
    send_signed(request.build().map_err(network)?)
        .await?
        .json()
        .await
        .map_err(network)
}

pub async fn sign_in(name: &str) -> Result<SessionInfo, String> {
    let request = Request::post("/api/session")
        .json(&serde_json::json!({ "name": name }))
        .map_err(network)?;
    let session: SessionInfo = send_built(request).await?.json().await.map_err(network)?;
    // A new session, even under the same name: what waits under the last one's tag is
    // not this one's to send, and the offline pages show the last one.
    begin_session(session.clone());
    forget_offline_pages();
    Ok(session)
}

pub async fn sign_out() -> Result<(), String> {
    let tag = signed().map(|signed| signed.tag);
    send(Request::delete("/api/session")).await?;
    session_ended(tag);
    Ok(())
}

/// The session this browser is signed in with, as stored; `None` when signed out.
pub fn signed() -> Option<Signed> {
    Signed::parse(&storage()?.get_item(SESSION_KEY).ok()??)
}

/// This browser is signed in as `name` with a session it has no tag for yet (it has just
/// signed in, or first sees a session signed in elsewhere, without JavaScript say): gives
/// the session a new tag and keeps it, for every tab (they hear of it through the
/// `storage` event).
pub fn begin_session(holding: SessionInfo) -> Signed {
    let signed = Signed {
        name: holding.name,
        tag: new_client_id(),
        since: holding.since,
    };
    if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(&signed)) {
        let _ = storage.set_item(SESSION_KEY, &json);
    }
    signed
}

thread_local! {
    /// What the page does once its session has ended ([`on_session_end`]).
    static ON_END: std::cell::RefCell<Option<std::rc::Rc<dyn Fn()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Has `end` called whenever this page learns that its session has ended (the outbox is
/// emptied then, and the page shows it signed out). One at a time: the last one set.
pub fn on_session_end(end: impl Fn() + 'static) {
    ON_END.with(|on_end| *on_end.borrow_mut() = Some(std::rc::Rc::new(end)));
}

/// The session tagged `tag` (`None`: no session known) has ended: signed out here, in
/// another tab or outside this browser (a `401`). Unless the browser has signed in anew
/// meanwhile (another tag), the session is forgotten, for every tab (the `storage`
/// event), with the offline pages kept while it lasted, and the page hears of it
/// ([`on_session_end`]).
pub fn session_ended(tag: Option<String>) {
    if signed().map(|signed| signed.tag) != tag {
        return;
    }
    if let Some(storage) = storage() {
        let _ = storage.remove_item(SESSION_KEY);
    }
    forget_offline_pages();
    let end = ON_END.with(|on_end| on_end.borrow().clone());
    if let Some(end) = end {
        end();
    }
}

/// Drops the pages the service worker keeps for offline reloads: they show whoever
/// was signed in when they were kept.
pub fn forget_offline_pages() {
    let window = web_sys::window();
    let Some(window) = window
        .filter(|w| js_sys::Reflect::get(w, &"caches".into()).is_ok_and(|c| !c.is_undefined()))
    else {
        return;
    };
    if let Ok(caches) = window.caches() {
        // The same name as `CACHE` in public/sw.js.
        let _ = caches.delete("tiny-chat-v1");
    }
}

pub async fn history(
    room: &RoomName,
    before: Option<MessageId>,
    limit: usize,
) -> Result<Vec<ChatMessage>, String> {
    let mut url = format!("/api/rooms/{room}/messages?limit={limit}");
    if let Some(before) = before {
        url.push_str(&format!("&before={before}"));
    }
    send(Request::get(&url))
        .await?
        .json()
        .await
        .map_err(network)
}

/// `POST /api/rooms/{room}/typing`: tells the room you are typing.
pub async fn post_typing(room: &RoomName) -> Result<(), String> {
    let request = Request::post(&format!("/api/rooms/{room}/typing"));
    send_signed(request.build().map_err(network)?)
        .await
        .map(drop)
}

/// `GET /api/rooms/{room}/presence`.
pub async fn presence(room: &RoomName) -> Result<Presence, String> {
    send(Request::get(&format!("/api/rooms/{room}/presence")))
        .await?
        .json()
        .await
        .map_err(network)
}

pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load_last_read() -> LastRead {
    storage()
        .and_then(|s| s.get_item(LAST_READ_KEY).ok()?)
        .map(|json| parse_last_read(&json))
        .unwrap_or_default()
}

/// Moves a room's last-read id forward to `id` (never back), and returns the map as
/// it now stands. Read, changed and written at once, so that other tabs' rooms stay.
pub fn mark_read(room: &RoomName, id: MessageId) -> LastRead {
    let mut all = load_last_read();
    if all.get(room).is_none_or(|read| *read < id) {
        all.insert(room.clone(), id);
        if let Some(storage) = storage() {
            let _ = storage.set_item(LAST_READ_KEY, &last_read_json(&all));
        }
    }
    all
}

/// Milliseconds since the Unix epoch, by the browser's clock.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Moves the focus to the element `id`, or to `fallback` where `id` is gone or
/// cannot take it. On the next frame: what was just changed on the page (a row
/// leaving its edit) is drawn by then.
pub fn focus_by_id(id: &str, fallback: &str) {
    use wasm_bindgen::JsCast;
    let ids = [id.to_owned(), fallback.to_owned()];
    leptos::prelude::request_animation_frame(move || {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        for id in &ids {
            let Some(element) = document
                .get_element_by_id(id)
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            else {
                continue;
            };
            let _ = element.focus();
            let element: &web_sys::Element = element.as_ref();
            if document.active_element().as_ref() == Some(element) {
                return;
            }
        }
    });
}

/// Whether the tab is hidden (another tab, or the window minimised).
pub fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// `Notification.permission`: `default`, `granted` or `denied`; `None` where the
/// browser has no notifications.
pub fn notification_permission() -> Option<String> {
    use web_sys::NotificationPermission as P;
    let window = web_sys::window()?;
    if !js_sys::Reflect::has(&window, &"Notification".into()).unwrap_or(false) {
        return None;
    }
    Some(
        match web_sys::Notification::permission() {
            P::Granted => "granted",
            P::Denied => "denied",
            _ => "default",
        }
        .to_owned(),
    )
}

/// Asks for permission to notify, and calls `answered` with the new permission.
pub fn request_notification_permission(answered: impl FnOnce(Option<String>) + 'static) {
    use wasm_bindgen::closure::Closure;
    let Ok(promise) = web_sys::Notification::request_permission() else {
        answered(notification_permission());
        return;
    };
    let done = Closure::once(move |_: wasm_bindgen::JsValue| answered(notification_permission()));
    let _ = promise.then(&done);
    // Called once by the promise; it frees itself then.
    done.forget();
}

/// Shows a notification, if allowed; one per `tag` at a time.
pub fn notify(title: &str, body: &str, tag: &str) {
    if notification_permission().as_deref() != Some("granted") {
        return;
    }
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    let _ = web_sys::Notification::new_with_options(title, &options);
}

/// Registers the service worker (`public/sw.js`), which keeps the pages opened here
/// and the app's `/pkg/` files so that a page reloads while the browser is offline,
/// and asks it to keep `page` (a path) and the built files fetched so far now: they
/// did not come through the worker if it was not in control yet when the page
/// loaded, or if the router moved here without loading the page.
///
/// Only an enhancement: where anything fails, nothing happens.
pub fn keep_for_offline(page: &str) {
    use wasm_bindgen::{JsCast, JsValue, closure::Closure};
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    // `navigator.serviceWorker` is undefined outside secure contexts (https, and
    // http on localhost), and the binding would throw there.
    let supported = js_sys::Reflect::get(&navigator, &"serviceWorker".into())
        .is_ok_and(|workers| !workers.is_undefined());
    if !supported {
        return;
    }
    let message = offline_message(&window, page);
    let workers = navigator.service_worker();
    // A page the worker controls was registered already. A registration that fails
    // (a private window, a blocked script) rejects: caught, so that the console does
    // not report it. Never called when it succeeds, so forgotten: a few bytes, once.
    if workers.controller().is_none() {
        let ignore = Closure::once(|_: JsValue| ());
        let _ = workers.register("/sw.js").catch(&ignore);
        ignore.forget();
    }
    // `ready` resolves, with the registration, once a worker is active.
    let Ok(ready) = workers.ready() else {
        return;
    };
    let post = Closure::once(move |registration: JsValue| {
        let active = registration
            .dyn_into::<web_sys::ServiceWorkerRegistration>()
            .ok()
            .and_then(|r| r.active());
        if let Some(worker) = active {
            let _ = worker.post_message(&message);
        }
    });
    let _ = ready.then(&post);
    // Called once by the promise; it frees itself then.
    post.forget();
}

/// `{cache: [page, ...the built files the page has fetched]}`, for the worker.
fn offline_message(window: &web_sys::Window, page: &str) -> js_sys::Object {
    use wasm_bindgen::{JsCast, JsValue};
    let urls = js_sys::Array::new();
    urls.push(&JsValue::from_str(page));
    // Every built file this page has fetched so far: those its head names, and those
    // fetched by script (the WASM's split loader, the lazily loaded pieces).
    let fetched = window
        .performance()
        .map(|p| p.get_entries_by_type("resource"));
    for entry in fetched.iter().flat_map(|entries| entries.iter()) {
        if let Ok(entry) = entry.dyn_into::<web_sys::PerformanceEntry>() {
            let url = entry.name();
            if url.contains("/pkg/") {
                urls.push(&JsValue::from_str(&url));
            }
        }
    }
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"cache".into(), &urls);
    message
}

pub fn load_recent() -> Vec<RoomName> {
    storage()
        .and_then(|s| s.get_item(RECENT_KEY).ok()?)
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

pub fn save_recent(rooms: &[RoomName]) {
    if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(rooms)) {
        let _ = storage.set_item(RECENT_KEY, &json);
    }
}
