//! Completing `@name` in the message box: typing `@` offers the names of the people
//! here, arrows move through them, Enter or Tab (or a click) completes, Escape closes.

use crate::{
    app::{SessionContext, feed::Feed, identity::Avatar},
    awareness,
    message::DisplayName,
};
use leptos::{ev, html, prelude::*};

/// How many names the `@` list offers at most.
const SUGGESTIONS: usize = 8;

/// The list's element id, which the message box names as what it controls.
pub const OPTIONS_ID: &str = "mention-options";

/// The `@name` being typed: where its `@` is (a byte index) and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MentionQuery {
    at: usize,
    prefix: String,
}

/// What is being typed, the names it matches and the highlighted one, for the message
/// box `textarea` whose text is `text`.
#[derive(Clone, Copy)]
pub struct Mentions {
    text: RwSignal<String>,
    textarea: NodeRef<html::Textarea>,
    query: RwSignal<Option<MentionQuery>>,
    active: RwSignal<usize>,
    options: Memo<Vec<DisplayName>>,
}

impl Mentions {
    pub fn new(text: RwSignal<String>, textarea: NodeRef<html::Textarea>) -> Self {
        let feed = expect_context::<Feed>();
        let session = expect_context::<SessionContext>();
        let query = RwSignal::new(None::<MentionQuery>);
        let options = Memo::new(move |_| {
            let Some(query) = query.get() else {
                return Vec::new();
            };
            let me = session.name();
            feed.members.with(|members| {
                members.as_ref().map_or_else(Vec::new, |m| {
                    suggestions(&m.online, me.as_ref(), &query.prefix)
                })
            })
        });
        Self {
            text,
            textarea,
            query,
            active: RwSignal::new(0),
            options,
        }
    }

    /// Whether the list is showing.
    pub fn listing(self) -> bool {
        self.options.with(|o| !o.is_empty())
    }

    /// The highlighted option's id, while the list shows.
    pub fn active_id(self) -> Option<String> {
        self.listing().then(|| option_id(self.active.get()))
    }

    /// Closes the list.
    pub fn close(self) {
        self.query.set(None);
    }

    /// Where the caret is, as a byte index into the text.
    fn caret(self) -> Option<usize> {
        let textarea = self.textarea.get_untracked()?;
        let utf16 = textarea.selection_start().ok()??;
        Some(byte_index(&textarea.value(), utf16 as usize))
    }

    /// Looks again for an `@name` being typed at the caret (after typing, a click, or a
    /// move of the caret).
    pub fn find(self) {
        let found = self
            .caret()
            .and_then(|caret| self.text.with_untracked(|t| mention_query(t, caret)));
        if found != self.query.get_untracked() {
            self.active.set(0);
            self.query.set(found);
        }
    }

    /// Completes the mention being typed with the option at `index`.
    fn complete(self, index: usize) {
        let (Some(found), Some(name), Some(caret), Some(textarea)) = (
            self.query.get_untracked(),
            self.options.with_untracked(|o| o.get(index).cloned()),
            self.caret(),
            self.textarea.get_untracked(),
        ) else {
            return;
        };
        let (completed, new_caret) = self
            .text
            .with_untracked(|t| complete(t, found.at, caret, &name));
        textarea.set_value(&completed);
        let utf16 = completed[..new_caret].encode_utf16().count() as u32;
        let _ = textarea.set_selection_range(utf16, utf16);
        self.text.set(completed);
        self.query.set(None);
        // The binding writes the same value again on its next run; put the caret back.
        request_animation_frame(move || {
            let _ = textarea.set_selection_range(utf16, utf16);
        });
    }

    /// The list's keys, while it shows: `true` when the key was the list's.
    pub fn keydown(self, event: &ev::KeyboardEvent) -> bool {
        if !self.listing() {
            return false;
        }
        let count = self.options.with_untracked(Vec::len);
        match event.key().as_str() {
            "ArrowDown" => self.active.update(|i| *i = (*i + 1) % count),
            "ArrowUp" => self.active.update(|i| *i = (*i + count - 1) % count),
            "Enter" | "Tab" => self.complete(self.active.get_untracked().min(count - 1)),
            "Escape" => self.query.set(None),
            _ => return false,
        }
        event.prevent_default();
        true
    }
}

fn option_id(index: usize) -> String {
    format!("mention-option-{index}")
}

/// The names to pick from, above the message box while an `@name` is being typed.
#[component]
pub fn MentionOptions(mentions: Mentions) -> impl IntoView {
    let Mentions {
        active, options, ..
    } = mentions;
    view! {
        <Show when=move || mentions.listing()>
            <ul id=OPTIONS_ID class="mention-options" role="listbox" aria-label="People to mention">
                <For
                    each=move || options.get().into_iter().enumerate()
                    key=|(index, name)| (*index, name.clone())
                    children=move |(index, name): (usize, DisplayName)| {
                        view! {
                            <li
                                id=option_id(index)
                                role="option"
                                class:active=move || active.get() == index
                                aria-selected=move || (active.get() == index).to_string()
                                // Keep the focus in the box: the click completes.
                                on:mousedown=move |event| {
                                    event.prevent_default();
                                    mentions.complete(index);
                                }
                            >
                                <Avatar name=name.clone() />
                                <span class="option-name">{name.to_string()}</span>
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
    }
}

/// The `@name` being typed just before `caret` (a byte index), if any: an `@` at the
/// start or after a character that cannot be in a name, then name characters only.
fn mention_query(text: &str, caret: usize) -> Option<MentionQuery> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let prefix = &before[at + 1..];
    let starts = awareness::mention_can_start(before[..at].chars().next_back());
    (starts && prefix.chars().all(awareness::mention_char)).then(|| MentionQuery {
        at,
        prefix: prefix.to_owned(),
    })
}

/// The people here whose name starts with `prefix` (case-insensitively), but you.
fn suggestions(online: &[DisplayName], me: Option<&DisplayName>, prefix: &str) -> Vec<DisplayName> {
    let prefix = prefix.to_lowercase();
    online
        .iter()
        .filter(|name| me.is_none_or(|me| !me.same_name(name)))
        .filter(|name| name.canonical().starts_with(&prefix))
        .take(SUGGESTIONS)
        .cloned()
        .collect()
}

/// `text` with the mention typed from `at` to `caret` replaced by `@name `, and where
/// the caret goes then (byte indexes).
fn complete(text: &str, at: usize, caret: usize, name: &DisplayName) -> (String, usize) {
    let rest = &text[caret..];
    let space = if rest.starts_with(' ') { "" } else { " " };
    let completed = format!("{}@{name}{space}{rest}", &text[..at]);
    let new_caret = at + 1 + name.as_str().len() + 1;
    (completed, new_caret)
}

/// The byte index in `text` of a UTF-16 offset (what the DOM's selection counts in).
fn byte_index(text: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (index, c) in text.char_indices() {
        if units >= utf16 {
            return index;
        }
        units += c.len_utf16();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> DisplayName {
        DisplayName::parse(raw).unwrap()
    }

    fn query(text: &str) -> Option<(usize, String)> {
        mention_query(text, text.len()).map(|q| (q.at, q.prefix))
    }

    #[test]
    fn a_mention_is_being_typed_after_an_at_sign() {
        assert_eq!(query("@"), Some((0, String::new())));
        assert_eq!(query("hi @al"), Some((3, "al".into())));
        assert_eq!(query("(@Zoë"), Some((1, "Zoë".into())));
        assert_eq!(query("hi @al "), None);
        assert_eq!(query("mail a@b"), None);
        assert_eq!(query("no at"), None);
        assert_eq!(
            mention_query("@al and more", 3).map(|q| q.prefix),
            Some("al".into())
        );
    }

    #[test]
    fn suggestions_match_a_prefix_in_any_case_but_never_you() {
        let online = [name("Alice"), name("alfred"), name("bob"), name("ALF")];
        let me = name("alf");
        assert_eq!(
            suggestions(&online, Some(&me), "AL"),
            [name("Alice"), name("alfred")]
        );
        assert_eq!(suggestions(&online, None, "b"), [name("bob")]);
        assert_eq!(suggestions(&online, None, "").len(), 4);
    }

    #[test]
    fn completing_writes_the_name_and_a_space_and_moves_the_caret() {
        let (text, caret) = complete("hi @al", 3, 6, &name("Alice"));
        assert_eq!(text, "hi @Alice ");
        assert_eq!(caret, text.len());
        let (text, caret) = complete("@m there", 0, 2, &name("Mary Ann"));
        assert_eq!(text, "@Mary Ann there");
        assert_eq!(&text[caret..], "there");
    }

    #[test]
    fn utf16_offsets_become_byte_indexes() {
        assert_eq!(byte_index("abc", 2), 2);
        assert_eq!(byte_index("é@x", 1), 2);
        assert_eq!(byte_index("😀@", 2), 4);
        assert_eq!(byte_index("ab", 9), 2);
    }
}
