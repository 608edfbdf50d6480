//! The rows of a room page as the server sends them: written straight into HTML, not
//! rendered through the row components.
//!
//! Rendering 50 `MessageRow`s through Leptos took about 11 µs a row, three quarters of
//! a room page's server time (`chat-bench page`: 6,400 pages/s with no messages, 1,450
//! with 50; `docs/ARCHITECTURE.md`, ledger 7). Writing the same HTML here takes about
//! 1.6 µs.
//!
//! The browser does not hydrate these rows: once the page is live, `later.rs` mounts its
//! live rows in their place. So the two renderings only have to show the
//! same thing, and the tests hold them to more than that, the very same HTML: this
//! file's rows equal `MessageRow`'s (as the server would render it before hydration,
//! without Leptos's `<!>` markers) for every kind of row and text, hostile text included.
//! Everything is escaped with the functions Leptos itself escapes with.

use super::{grouped, reactions::who_reacted};
use crate::{
    app::{
        client,
        feed::Messages,
        identity::{hue, initials},
        rich_text,
    },
    awareness,
    message::{ChatMessage, SessionInfo},
};
use html_escape::{encode_double_quoted_attribute as attribute, encode_text as text};
use std::fmt::Write;

/// The `<li>` of every row, in order, as `viewer` sees them before the app runs.
pub(super) fn rows_html(messages: &Messages, viewer: Option<&SessionInfo>) -> String {
    let mut out = String::with_capacity(messages.len() * 400);
    for (message, first_of_group) in grouped(messages) {
        write_row(message, first_of_group, viewer, &mut out);
    }
    out
}

/// One row: what `MessageRow` renders for `message` before hydration.
pub(super) fn write_row(
    message: &ChatMessage,
    first_of_group: bool,
    viewer: Option<&SessionInfo>,
    out: &mut String,
) {
    let sender = &message.sender;
    let mine = viewer.is_some_and(|me| me.wrote(message));
    let viewer = viewer.map(|me| &me.name);
    let mentions_me = !mine && viewer.is_some_and(|me| awareness::mentions_name(&message.text, me));
    out.push_str("<li class=\"message");
    for (on, class) in [
        (mine, " mine"),
        (mentions_me, " mentions-me"),
        (first_of_group, " first"),
    ] {
        if on {
            out.push_str(class);
        }
    }
    let _ = write!(out, "\" data-id=\"{}\">", message.id);
    if first_of_group {
        let _ = write!(
            out,
            "<div class=\"meta\"><span class=\"avatar hue-{}\" aria-hidden=\"true\">{}</span>\
             <span class=\"sender\">{}</span><time datetime=\"{}\">{}</time></div>",
            hue(sender),
            text(&initials(sender)),
            text(sender.as_str()),
            attribute(&message.sent_at),
            text(&client::clock(&message.sent_at, false)),
        );
    }
    rich_text::write_html(&message.text, viewer, out);
    if let Some(at) = &message.edited_at {
        let _ = write!(
            out,
            "<span class=\"edited\" title=\"{}\">(edited)</span>",
            attribute(at)
        );
    }
    if !message.reactions.is_empty() {
        out.push_str("<div class=\"reactions\" role=\"group\" aria-label=\"Reactions\">");
        for reaction in &message.reactions {
            let pressed =
                viewer.is_some_and(|me| reaction.names.iter().any(|name| name.same_name(me)));
            let _ = write!(
                out,
                "<button type=\"button\" class=\"reaction{}\" aria-pressed=\"{pressed}\" \
                 title=\"{}\" disabled><span class=\"emoji\">{}</span> \
                 <span class=\"count\">{}</span></button>",
                if pressed { " mine" } else { "" },
                attribute(&who_reacted(&reaction.names)),
                text(&reaction.emoji),
                reaction.names.len(),
            );
        }
        out.push_str("</div>");
    }
    out.push_str("</li>");
}
