//! The safe Markdown subset of `docs/API.md` ("Rendering"), parsed into a small tree.
//! [`parse`] is pure and shared: the server-rendered page and the browser both render
//! messages from it (`app::rich_text`), so they cannot disagree.
//!
//! What it understands: `**bold**`, `*italic*` and `_italic_`, `` `code` ``, fenced
//! code blocks, `> quotes`, `[text](url)` links, bare `http(s)://` URLs and `@name`
//! mentions. Everything else is text exactly as typed: no headings, lists, tables,
//! images, HTML or entities (`&lt;` stays four characters), and a marker that is not
//! closed is literal. The only way to a link is [`Href::parse`], which admits `http`,
//! `https` and `mailto` and nothing else.
//!
//! # Hand-written, not pulldown-cmark
//!
//! The house style reaches for pulldown-cmark first; this one is written by hand because
//! it does measurably better for chat text. Measured with rustc 1.95 on
//! `wasm32-unknown-unknown`: a scratch `cdylib` (`opt-level = "z"`, LTO, one codegen
//! unit, `panic = "abort"`) exporting one `fn(ptr, len)` that parses the text and
//! returns the event (node) count, next to a baseline of what the app already has
//! (`awareness::segments`, Unicode classes, allocation); `gzip -9` bytes of the `.wasm`:
//!
//! | build | raw | gzip -9 | over the baseline |
//! | --- | --- | --- | --- |
//! | baseline | 30,420 | 14,166 | |
//! | pulldown-cmark 0.13.6, `default-features = false`, `Options::empty()` | 217,190 | 88,818 | +74,652 |
//! | this module | 46,106 | 20,300 | +6,134 |
//!
//! pulldown-cmark alone would take the whole issue's 40 KB budget and more, and it is
//! CommonMark: `# x` becomes a heading, `1. x` a list, `[a]: http://x` lines vanish as
//! link definitions, `&lt;` is decoded, indented lines turn into code, and raw HTML
//! comes through as HTML events. Every one of those would have to be undone again for
//! chat text, in code on top of its size.
//!
//! # The rules, where Markdown leaves a choice
//!
//! - Blocks are read line by line: a run of lines starting with `>` is a quote (its
//!   inside is read again, up to [`MAX_QUOTE_DEPTH`] deep); a line of three or more
//!   backticks (and an optional language word, ignored) opens a code block that the
//!   next line of at least as many backticks closes, and without one it is text; every
//!   other run of lines is a paragraph, blank lines included, so that each line shows as
//!   typed.
//! - Inline markers work within one line. Code spans bind first, then links, then
//!   emphasis; runs of one `*` or `_` are italic, of two `*` bold, of three `*` both; an
//!   opener must be followed, and a closer preceded, by a non-space, and `_` does not
//!   work inside words (`snake_case_name` stays as is).
//! - A link's text may hold emphasis and code but no link; a link whose address is not
//!   `http`, `https` or `mailto` is text, all of it. Bare URLs run to the next space,
//!   without trailing `.,:;!?)'"` (a `)` stays when a `(` in the URL balances it).
//! - The work is linear in the text times the depth of nesting, which is bounded
//!   ([`MAX_INLINE_DEPTH`]), whatever the input (a thousand `*`, `[`, `` ` ``, `>`); only
//!   code spans add a search per distinct backtick-run length.

use inline::Line;

mod inline;

/// The deepest nesting of bold, italic and links; deeper markers are text.
pub const MAX_INLINE_DEPTH: usize = 8;
/// The deepest nesting of quotes; deeper `>` are text.
pub const MAX_QUOTE_DEPTH: usize = 4;
/// The most links (and bare URLs) a message shows as links; later ones show as text.
pub const MAX_LINKS: usize = 20;
/// The most `@name` mentions a message shows as mentions; later ones show as text. With
/// [`MAX_LINKS`] it bounds what a message's 2000 characters can make a page carry:
/// `@a @a …` wrote a 31-byte element for every three characters (issue 23).
pub const MAX_MENTIONS: usize = 20;

/// A block of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block<'a> {
    /// Lines of text, separated by `Inline::Text("\n")`.
    Paragraph(Vec<Inline<'a>>),
    Quote(Vec<Block<'a>>),
    /// A fenced code block: `info` is the ignored language word, `lines` the content as
    /// typed (a quote's `>` removed).
    Code {
        info: &'a str,
        lines: Vec<&'a str>,
    },
}

/// A piece of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline<'a> {
    Text(&'a str),
    Strong(Vec<Inline<'a>>),
    Emphasis(Vec<Inline<'a>>),
    /// A code span's content, as typed.
    Code(&'a str),
    /// `[children](href)`.
    Link {
        href: Href<'a>,
        children: Vec<Inline<'a>>,
    },
    /// A bare URL: its own text.
    Url(Href<'a>),
    Mention(Mention<'a>),
}

/// A link target with a safe scheme: `http://`, `https://` or `mailto:` (in any case),
/// and no whitespace or control characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Href<'a>(&'a str);

impl<'a> Href<'a> {
    const SCHEMES: [&'static str; 3] = ["http://", "https://", "mailto:"];

    /// The link target `raw`, if it is safe to put in an `href`.
    pub fn parse(raw: &'a str) -> Option<Self> {
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let scheme = Self::SCHEMES.iter().find(|scheme| {
            raw.get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        })?;
        (raw.len() > scheme.len()).then_some(Self(raw))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// An `@name` mention, as [`crate::awareness::segments`] finds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mention<'a> {
    text: &'a str,
    context: &'a str,
}

impl<'a> Mention<'a> {
    /// The mention as written, `@` included.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The text from this `@` to the next one: what [`crate::awareness::mentions_name`] reads
    /// to tell whether this mention names someone, even a name with a space (a mention
    /// ends at the first space, `@mary ann` names Mary Ann).
    pub fn context(&self) -> &'a str {
        self.context
    }
}

/// Parses a message's text. Never fails: what is not Markdown is text. Past
/// [`MAX_LINKS`] links and [`MAX_MENTIONS`] mentions, the rest are text.
pub fn parse(text: &str) -> Vec<Block<'_>> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut blocks = blocks(&lines, 0);
    let mut budget = Budget {
        links: MAX_LINKS,
        mentions: MAX_MENTIONS,
    };
    for block in &mut blocks {
        budget.block(block);
    }
    blocks
}

/// How many more links and mentions a message may show as such.
struct Budget {
    links: usize,
    mentions: usize,
}

impl Budget {
    fn block(&mut self, block: &mut Block<'_>) {
        match block {
            Block::Paragraph(inlines) => self.inlines(inlines),
            Block::Quote(blocks) => blocks.iter_mut().for_each(|b| self.block(b)),
            Block::Code { .. } => {}
        }
    }

    /// Turns the links and mentions past the budget into their text, in order.
    fn inlines(&mut self, inlines: &mut Vec<Inline<'_>>) {
        let mut out = Vec::with_capacity(inlines.len());
        for mut inline in inlines.drain(..) {
            match &mut inline {
                Inline::Strong(children) | Inline::Emphasis(children) => self.inlines(children),
                Inline::Link { children, .. } if self.links == 0 => {
                    self.inlines(children);
                    out.append(children);
                    continue;
                }
                Inline::Url(href) if self.links == 0 => {
                    out.push(Inline::Text(href.as_str()));
                    continue;
                }
                Inline::Link { children, .. } => {
                    self.links -= 1;
                    self.inlines(children);
                }
                Inline::Url(_) => self.links -= 1,
                Inline::Mention(mention) if self.mentions == 0 => {
                    out.push(Inline::Text(mention.text()));
                    continue;
                }
                Inline::Mention(_) => self.mentions -= 1,
                Inline::Text(_) | Inline::Code(_) => {}
            }
            out.push(inline);
        }
        *inlines = out;
    }
}

fn blocks<'a>(lines: &[&'a str], depth: usize) -> Vec<Block<'a>> {
    let mut out = Vec::new();
    let mut paragraph: Vec<&'a str> = Vec::new();
    // The fewest backticks a fence has failed to find a closing line for: no later fence
    // of as many will find one either, so none searches again (linear in the lines).
    let mut unclosed_from: Option<usize> = None;
    let mut at = 0;
    while at < lines.len() {
        let line = lines[at];
        if depth < MAX_QUOTE_DEPTH && line.starts_with('>') {
            let quoted: Vec<&'a str> = lines[at..]
                .iter()
                .take_while(|l| l.starts_with('>'))
                .map(|l| l[1..].strip_prefix(' ').unwrap_or(&l[1..]))
                .collect();
            at += quoted.len();
            flush_paragraph(&mut out, &mut paragraph);
            out.push(Block::Quote(blocks(&quoted, depth + 1)));
            continue;
        }
        if let Some((ticks, info)) = fence_open(line)
            && unclosed_from.is_none_or(|failed| ticks < failed)
        {
            let rest = &lines[at + 1..];
            match rest.iter().position(|l| fence_closes(l, ticks)) {
                Some(len) => {
                    flush_paragraph(&mut out, &mut paragraph);
                    out.push(Block::Code {
                        info,
                        lines: rest[..len].to_vec(),
                    });
                    at += len + 2;
                    continue;
                }
                None => unclosed_from = Some(ticks),
            }
        }
        paragraph.push(line);
        at += 1;
    }
    flush_paragraph(&mut out, &mut paragraph);
    out
}

/// A fence's backtick count and language word, if `line` opens one.
fn fence_open(line: &str) -> Option<(usize, &str)> {
    let line = line.trim();
    let ticks = line.bytes().take_while(|&b| b == b'`').count();
    let info = line[ticks..].trim();
    (ticks >= 3 && !info.contains('`')).then_some((ticks, info))
}

fn fence_closes(line: &str, ticks: usize) -> bool {
    let line = line.trim();
    line.len() >= ticks && line.bytes().all(|b| b == b'`')
}

fn flush_paragraph<'a>(out: &mut Vec<Block<'a>>, lines: &mut Vec<&'a str>) {
    if lines.is_empty() {
        return;
    }
    let mut inlines = Vec::new();
    for (index, line) in lines.drain(..).enumerate() {
        if index > 0 {
            inlines.push(Inline::Text("\n"));
        }
        line_inlines(line, &mut inlines);
    }
    out.push(Block::Paragraph(inlines));
}

/// The inlines of one line of a paragraph.
///
/// A line with no byte that can begin Markdown is text, whole: it skips [`Line::new`]'s
/// tables, which were the larger part of writing a room page's rows on the server
/// (`docs/ARCHITECTURE.md`, ledger 8). A test holds it to the full parse.
fn line_inlines<'a>(line: &'a str, out: &mut Vec<Inline<'a>>) {
    let marker = |b: u8| matches!(b, b'`' | b'*' | b'_' | b'[' | b'@');
    if !line.bytes().any(marker) && !line.contains("://") {
        if !line.is_empty() {
            out.push(Inline::Text(line));
        }
        return;
    }
    parsed_line_inlines(line, out);
}

fn parsed_line_inlines<'a>(line: &'a str, out: &mut Vec<Inline<'a>>) {
    let line = Line::new(line);
    out.extend(line.inlines(0..line.src.len(), 0, false));
}

#[cfg(test)]
mod tests;
