//! The Markdown parser's tests, by part: `markers` (bold, italic, code spans), `blocks`
//! (code blocks, quotes, lines, what stays text), `links` (links, bare URLs, mentions),
//! `hostile` (unsafe and pathological input) and `properties` (proptest). Here: the
//! helpers they share, which read a parsed tree back.

use super::*;
use Inline::{Code, Emphasis, Strong, Text};

mod blocks;
mod hostile;
mod links;
mod markers;
mod properties;

/// The inlines of a one-paragraph text.
fn inlines(text: &str) -> Vec<Inline<'_>> {
    match parse(text).as_slice() {
        [Block::Paragraph(inlines)] => inlines.clone(),
        other => panic!("{text:?} is not one paragraph: {other:?}"),
    }
}

fn link<'a>(href: &'a str, children: Vec<Inline<'a>>) -> Inline<'a> {
    Inline::Link {
        href: Href::parse(href).unwrap(),
        children,
    }
}

fn url(href: &str) -> Inline<'_> {
    Inline::Url(Href::parse(href).unwrap())
}

fn mention(inline: &Inline<'_>) -> Option<(String, String)> {
    match inline {
        Inline::Mention(m) => Some((m.text().to_owned(), m.context().to_owned())),
        _ => None,
    }
}

/// What a reader sees, blocks on lines of their own.
fn visible(blocks: &[Block<'_>]) -> String {
    let shown: Vec<String> = blocks
        .iter()
        .map(|block| match block {
            Block::Paragraph(inlines) => visible_inlines(inlines),
            Block::Quote(blocks) => visible(blocks),
            Block::Code { lines, .. } => lines.join("\n"),
        })
        .collect();
    shown.join("\n")
}

fn visible_inlines(inlines: &[Inline<'_>]) -> String {
    inlines
        .iter()
        .map(|inline| match inline {
            Text(text) | Code(text) => (*text).to_owned(),
            Inline::Mention(m) => m.text().to_owned(),
            Inline::Url(href) => href.as_str().to_owned(),
            Strong(children) | Emphasis(children) | Inline::Link { children, .. } => {
                visible_inlines(children)
            }
        })
        .collect()
}

/// Everything the tree holds from the text: what is seen, and link targets and code
/// languages, which are not.
fn held(blocks: &[Block<'_>]) -> String {
    blocks
        .iter()
        .map(|block| match block {
            Block::Paragraph(inlines) => held_inlines(inlines),
            Block::Quote(blocks) => held(blocks),
            Block::Code { info, lines } => format!("{info}{}", lines.concat()),
        })
        .collect()
}

fn held_inlines(inlines: &[Inline<'_>]) -> String {
    inlines
        .iter()
        .map(|inline| match inline {
            Inline::Link { href, children } => {
                format!("{}{}", held_inlines(children), href.as_str())
            }
            Strong(children) | Emphasis(children) => held_inlines(children),
            other => visible_inlines(std::slice::from_ref(other)),
        })
        .collect()
}

fn hrefs<'a>(blocks: &[Block<'a>], out: &mut Vec<&'a str>) {
    fn of_inlines<'a>(inlines: &[Inline<'a>], out: &mut Vec<&'a str>) {
        for inline in inlines {
            match inline {
                Inline::Url(href) => out.push(href.as_str()),
                Inline::Link { href, children } => {
                    out.push(href.as_str());
                    of_inlines(children, out);
                }
                Strong(children) | Emphasis(children) => of_inlines(children, out),
                _ => {}
            }
        }
    }
    for block in blocks {
        match block {
            Block::Paragraph(inlines) => of_inlines(inlines, out),
            Block::Quote(blocks) => hrefs(blocks, out),
            Block::Code { .. } => {}
        }
    }
}

fn all_hrefs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    hrefs(&parse(text), &mut out);
    out
}

/// Markers and whitespace: what the parser may consume.
fn without_markers(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !"*_`>[]()".contains(*c))
        .collect()
}

fn depth(inlines: &[Inline<'_>]) -> usize {
    inlines
        .iter()
        .map(|inline| match inline {
            Strong(children) | Emphasis(children) | Inline::Link { children, .. } => {
                1 + depth(children)
            }
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}
