//! The browser's side of [`Later`](super::Later): the slots the page's parts wait in,
//! and the live parts mounted into them once the page is live.

use super::{Part, view_of};
use crate::app::{Hydrated, SessionContext, client, feed::Feed, live::Connection, outbox::Outbox};
use leptos::{
    prelude::*,
    tachys::view::{Mountable, Render},
    task::spawn_local,
};
use std::time::Duration;
use wasm_bindgen::JsCast;

/// Slack in the WASM's constants, for `cargo leptos build --split`. The split moves
/// the constants only the lazy piece uses into that piece, laying the rest out anew;
/// when alignment makes the new layout a few bytes longer than the old, it keeps
/// all of them in the main WASM instead (wasm_split_cli_support 0.2.3, `emit.rs`,
/// "Overlong segment"): 43 KB of text and tables more to load before live, by the
/// luck of a change anywhere. Nothing uses these bytes, so the split leaves them
/// out of both pieces, and the layout has room to spare.
#[used]
static SPLIT_LAYOUT_SLACK: [u8; 1024] = [0x5a; 1024];

/// How long the server's HTML waits for the stream before the live parts replace
/// it anyway (offline, say).
pub const WAIT_AT_MOST: Duration = Duration::from_millis(1500);

/// Where a live part goes.
pub enum Slot {
    Part(Part, web_sys::HtmlDivElement),
    /// The message rows, into the list's `<ol>`; `mounted` is set once they are in.
    Rows(web_sys::HtmlOListElement, RwSignal<bool>),
}

/// The page's slots, each with the owner of what goes into it. (What `fill` needs
/// is here, not looked up: timers run outside the page's owner.)
#[derive(Clone)]
struct Slots {
    waiting: StoredValue<Vec<(Slot, Owner)>, LocalStorage>,
    /// The page is live (or has waited long enough): slots are filled as they come.
    open: StoredValue<bool>,
    session: SessionContext,
    app: Option<App>,
}

/// What every page starts once live (or after [`WAIT_AT_MOST`]), whatever it shows:
/// the outbox (`outbox::start`), which sends only over a live stream anyway. Its code
/// comes with the room's parts.
#[derive(Clone)]
struct App {
    outbox: Outbox,
    session: SessionContext,
    /// The app's owner, which the outbox lives as long as.
    owner: Owner,
    started: StoredValue<bool>,
}

/// Starts what every page starts once live (see [`App`]): from a room page's
/// [`start`] when it goes live, else after [`WAIT_AT_MOST`].
pub fn start_app(outbox: Outbox, session: SessionContext) {
    let app = App {
        outbox,
        session,
        owner: Owner::current().expect("the app has an owner"),
        started: StoredValue::new(false),
    };
    provide_context(app.clone());
    set_timeout(
        move || {
            if let Some(start) = app_start(&app) {
                spawn_local(mount_parts(Vec::new(), session, Some(start)));
            }
        },
        WAIT_AT_MOST,
    );
}

/// What `mount_parts` needs to start the app, the first time only.
fn app_start(app: &App) -> Option<(Outbox, SessionContext, Owner)> {
    if app.started.get_value() {
        return None;
    }
    app.started.set_value(true);
    Some((app.outbox, app.session, app.owner.clone()))
}

/// Starts a page's slots: on a page load, they are filled once the stream is live
/// (or after [`WAIT_AT_MOST`]) if `until_live`, else at once; when the app moved to
/// the page, at once.
pub fn start(until_live: bool) {
    let slots = Slots {
        waiting: StoredValue::new_local(Vec::new()),
        open: StoredValue::new(false),
        session: expect_context::<SessionContext>(),
        app: use_context::<App>(),
    };
    provide_context(slots.clone());
    let open = move || {
        if !slots.open.try_get_value().unwrap_or(true) {
            slots.open.set_value(true);
            fill(&slots);
        }
    };
    if !until_live || expect_context::<Hydrated>().0.get_untracked() {
        // After this render, which adds the slots.
        Effect::new(move |_| open());
        return;
    }
    let status = expect_context::<Feed>().status;
    let on_live = open.clone();
    Effect::new(move |_| {
        if status.get() == Connection::Live {
            // After the frame that shows `live`, in a task of its own.
            let open = on_live.clone();
            request_animation_frame(move || set_timeout(open, Duration::ZERO));
        }
    });
    set_timeout(open, WAIT_AT_MOST);
}

/// Adds a slot, filled at once if the page is open already.
pub fn add(slot: Slot) {
    let Some(slots) = use_context::<Slots>() else {
        return;
    };
    let owner = Owner::current().expect("a slot has an owner");
    slots
        .waiting
        .update_value(|waiting| waiting.push((slot, owner)));
    if slots.open.get_value() {
        fill(&slots);
    }
}

fn fill(slots: &Slots) {
    let waiting = std::mem::take(&mut *slots.waiting.write_value());
    if waiting.is_empty() {
        return;
    }
    let session = slots.session;
    let app = slots.app.as_ref().and_then(app_start);
    spawn_local(async move {
        mount_parts(waiting, session, app).await;
        // Their code came in a file of its own, which an offline reload needs too.
        let page = web_sys::window().and_then(|window| window.location().pathname().ok());
        client::keep_for_offline(&page.unwrap_or_default());
    });
}

/// Mounts each slot's live part in place of what the server sent there (nothing for
/// a slot no longer on the page: the room was left meanwhile).
///
/// Lazy: a release build (`cargo leptos build --split`) puts this function, and
/// what only it reaches, in a WASM file of its own, fetched the first time it runs.
#[lazy]
fn mount_parts(
    slots: Vec<(Slot, Owner)>,
    session: SessionContext,
    app: Option<(Outbox, SessionContext, Owner)>,
) {
    if let Some((outbox, session, owner)) = app {
        owner.with(|| crate::app::outbox::start(outbox, session));
    }
    for (slot, owner) in slots {
        owner.with(|| match slot {
            Slot::Rows(log, mounted) => {
                if log.is_connected() {
                    crate::app::messages::mount_rows(&log, session);
                    mounted.set(true);
                }
            }
            Slot::Part(part, element) => {
                if element.is_connected() {
                    mount(&element, view_of(part));
                }
            }
        });
    }
}

/// Puts `view` into `element` in place of its children, with what was being typed
/// there (and the focus) carried over; it stays as long as the current owner.
fn mount(element: &web_sys::HtmlDivElement, view: AnyView) {
    let typed = Typed::take(element);
    let mut live = view.build();
    element.replace_children_with_node_0();
    live.mount(element, None);
    typed.restore(element);
    let live = send_wrapper::SendWrapper::new(live);
    on_cleanup(move || drop(live));
}

/// Where a field's selection starts and ends.
type Selection = (Option<u32>, Option<u32>);

/// A text field: an `<input>` or a `<textarea>`, which share these properties but
/// not a web-sys type.
enum Field {
    Input(web_sys::HtmlInputElement),
    Area(web_sys::HtmlTextAreaElement),
}

impl Field {
    fn of(element: web_sys::Element) -> Option<Field> {
        element
            .dyn_into::<web_sys::HtmlInputElement>()
            .map(Field::Input)
            .or_else(|element| element.dyn_into().map(Field::Area))
            .ok()
    }

    fn element(&self) -> &web_sys::HtmlElement {
        match self {
            Field::Input(input) => input,
            Field::Area(area) => area,
        }
    }

    /// Its `id` (or `name`) as a selector, to find its match in the live part.
    fn key(&self) -> Option<String> {
        let element = self.element();
        let id = element.id();
        if !id.is_empty() {
            return Some(format!("#{id}"));
        }
        element
            .get_attribute("name")
            .map(|name| format!("[name=\"{name}\"]"))
    }

    fn value(&self) -> String {
        match self {
            Field::Input(input) => input.value(),
            Field::Area(area) => area.value(),
        }
    }

    fn selection(&self) -> Selection {
        match self {
            Field::Input(i) => (
                i.selection_start().ok().flatten(),
                i.selection_end().ok().flatten(),
            ),
            Field::Area(a) => (
                a.selection_start().ok().flatten(),
                a.selection_end().ok().flatten(),
            ),
        }
    }

    /// Writes `value` as if typed: the live part's `input` handlers take it in.
    fn type_in(&self, value: &str) {
        match self {
            Field::Input(input) => input.set_value(value),
            Field::Area(area) => area.set_value(value),
        }
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        if let Ok(event) = web_sys::Event::new_with_event_init_dict("input", &init) {
            let _ = self.element().dispatch_event(&event);
        }
    }

    fn focus_at(&self, (start, end): Selection) {
        let (start, end) = (start.unwrap_or(0), end.unwrap_or(0));
        let _ = match self {
            Field::Input(input) => input.focus().and(input.set_selection_range(start, end)),
            Field::Area(area) => area.focus().and(area.set_selection_range(start, end)),
        };
    }
}

/// What was typed into a part's fields before the live part replaced them, by each
/// field's `id` (or `name`), and which field had the focus (and its selection).
struct Typed {
    values: Vec<(String, String)>,
    focused: Option<(String, Selection)>,
}

impl Typed {
    fn fields(element: &web_sys::Element) -> impl Iterator<Item = Field> {
        let list = element
            .query_selector_all("input[type=text], input:not([type]), textarea")
            .ok();
        let count = list.as_ref().map_or(0, web_sys::NodeList::length);
        (0..count).filter_map(move |i| {
            Field::of(
                list.as_ref()?
                    .item(i)?
                    .dyn_into::<web_sys::Element>()
                    .ok()?,
            )
        })
    }

    fn find(element: &web_sys::Element, key: &str) -> Option<Field> {
        Field::of(element.query_selector(key).ok().flatten()?)
    }

    fn take(element: &web_sys::Element) -> Typed {
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let mut typed = Typed {
            values: Vec::new(),
            focused: None,
        };
        for field in Self::fields(element) {
            let Some(key) = field.key() else { continue };
            let is_active = active
                .as_ref()
                .is_some_and(|active| active == field.element().as_ref());
            if is_active {
                typed.focused = Some((key.clone(), field.selection()));
            }
            let value = field.value();
            if !value.is_empty() {
                typed.values.push((key, value));
            }
        }
        typed
    }

    fn restore(self, element: &web_sys::Element) {
        for (key, value) in self.values {
            if let Some(field) = Self::find(element, &key) {
                field.type_in(&value);
            }
        }
        if let Some((key, selection)) = self.focused
            && let Some(field) = Self::find(element, &key)
        {
            field.focus_at(selection);
        }
    }
}
