//! The inline parser: emphasis, code spans, links, bare URLs and mentions within one
//! line, each marker found in O(1) from tables built once per line.

use super::{Href, Inline, MAX_INLINE_DEPTH, Mention};
use crate::awareness::{self, Segment};
use std::ops::Range;

/// One line, with what the inline parser looks up in O(1) computed once. Offsets are
/// bytes; every marker is ASCII, so each is a char boundary.
pub(super) struct Line<'a> {
    pub(super) src: &'a str,
    /// For a code span starting here, the offset just past its closing backticks; else 0.
    code_end: Vec<usize>,
    /// For a `[` or `(`, the offset of its matching `]` or `)` outside code; else 0.
    matching: Vec<usize>,
    /// The first offset at or after this one that is whitespace or starts a code span.
    next_break: Vec<usize>,
}

/// Which emphasis marker a run is, as an index into a per-call memo: `*`, `**`, `***`
/// and `_`. Other runs (`****`, `__`) are text.
fn marker_kind(c: u8, len: usize) -> Option<usize> {
    match (c, len) {
        (b'*', 1..=3) => Some(len - 1),
        (b'_', 1) => Some(3),
        _ => None,
    }
}

impl<'a> Line<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        let bytes = src.as_bytes();
        let len = bytes.len();
        let mut code_end = vec![0; len + 1];
        // A run that finds no closing run is the last of its length, so each length
        // searches in vain at most once: O(len * distinct lengths), and a line of `len`
        // bytes has fewer than sqrt(2 * len) distinct lengths.
        let mut at = 0;
        while at < len {
            if bytes[at] != b'`' {
                at += 1;
                continue;
            }
            let ticks = run_len(bytes, at);
            match find_run(bytes, at + ticks, ticks) {
                Some(close) => {
                    code_end[at] = close + ticks;
                    at = close + ticks;
                }
                None => at += ticks,
            }
        }

        let mut matching = vec![0; len + 1];
        let (mut squares, mut rounds) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < len {
            if code_end[at] != 0 {
                at = code_end[at];
                continue;
            }
            match bytes[at] {
                b'[' => squares.push(at),
                b'(' => rounds.push(at),
                b']' => squares
                    .pop()
                    .into_iter()
                    .for_each(|open| matching[open] = at),
                b')' => rounds
                    .pop()
                    .into_iter()
                    .for_each(|open| matching[open] = at),
                _ => {}
            }
            at += 1;
        }

        let mut next_break = vec![len; len + 1];
        for at in (0..len).rev() {
            next_break[at] = if bytes[at].is_ascii_whitespace() || code_end[at] != 0 {
                at
            } else {
                next_break[at + 1]
            };
        }
        Self {
            src,
            code_end,
            matching,
            next_break,
        }
    }

    /// `[text](destination)` at a `[`: the text, the destination, and the end. Whether
    /// the destination is allowed is the caller's question.
    fn link_at(&self, open: usize) -> Option<(Range<usize>, Range<usize>, usize)> {
        let close = self.matching[open];
        let paren = close + 1;
        if close == 0 || close == open + 1 || self.src.as_bytes().get(paren) != Some(&b'(') {
            return None;
        }
        let end = self.matching[paren];
        let destination = paren + 1..end;
        if end == 0 || destination.is_empty() || self.next_break[destination.start] < end {
            return None;
        }
        Some((open + 1..close, destination, end + 1))
    }

    fn can_open(&self, at: usize, len: usize) -> bool {
        let c = self.src.as_bytes()[at];
        let before = self.src[..at].chars().next_back();
        let after = self.src[at + len..].chars().next();
        after.is_some_and(|a| !a.is_whitespace())
            && (c == b'*' || before.is_none_or(|b| !b.is_alphanumeric()))
    }

    fn can_close(&self, at: usize, len: usize) -> bool {
        let c = self.src.as_bytes()[at];
        let before = self.src[..at].chars().next_back();
        let after = self.src[at + len..].chars().next();
        before.is_some_and(|b| !b.is_whitespace())
            && (c == b'*' || after.is_none_or(|a| !a.is_alphanumeric()))
    }

    /// The inlines of `range`. Code spans and (outside a link) `[...](...)` are atoms:
    /// emphasis never opens in one and closes outside it.
    pub(super) fn inlines(
        &self,
        range: Range<usize>,
        depth: usize,
        in_link: bool,
    ) -> Vec<Inline<'a>> {
        let bytes = self.src.as_bytes();
        let mut out = Vec::new();
        let mut text_from = range.start;
        // Kinds of marker that found no closer: none later in the range will either.
        let mut unclosed = [false; 4];
        let mut at = range.start;
        while at < range.end {
            let c = bytes[at];
            if self.code_end[at] != 0 && self.code_end[at] <= range.end {
                self.push_text(&mut out, text_from..at, in_link);
                let ticks = run_len(bytes, at);
                out.push(Inline::Code(
                    &self.src[at + ticks..self.code_end[at] - ticks],
                ));
                at = self.code_end[at];
                text_from = at;
            } else if c == b'['
                && !in_link
                && let Some((text, destination, end)) = self.link_at(at)
                && end <= range.end
            {
                if let Some(href) = Href::parse(&self.src[destination])
                    && depth < MAX_INLINE_DEPTH
                {
                    self.push_text(&mut out, text_from..at, in_link);
                    let children = self.inlines(text, depth + 1, true);
                    out.push(Inline::Link { href, children });
                    text_from = end;
                }
                // Otherwise the whole construct stays in the text run.
                at = end;
            } else if c == b'*' || c == b'_' {
                let len = run_len(bytes, at);
                let levels = if len == 3 { 2 } else { 1 };
                let close = match marker_kind(c, len) {
                    Some(kind)
                        if !unclosed[kind]
                            && depth + levels <= MAX_INLINE_DEPTH
                            && self.can_open(at, len) =>
                    {
                        let close = self.find_closer(at + len..range.end, c, len, in_link);
                        unclosed[kind] = close.is_none();
                        close
                    }
                    _ => None,
                };
                match close {
                    Some(close) => {
                        self.push_text(&mut out, text_from..at, in_link);
                        let inner = self.inlines(at + len..close, depth + levels, in_link);
                        out.push(match len {
                            1 => Inline::Emphasis(inner),
                            2 => Inline::Strong(inner),
                            _ => Inline::Strong(vec![Inline::Emphasis(inner)]),
                        });
                        at = close + len;
                        text_from = at;
                    }
                    None => at += len,
                }
            } else {
                at += 1;
            }
        }
        self.push_text(&mut out, text_from..range.end, in_link);
        out
    }

    /// The nearest run of the same marker and length that can close, stepping over
    /// the same atoms as [`Line::inlines`].
    fn find_closer(
        &self,
        range: Range<usize>,
        marker: u8,
        len: usize,
        in_link: bool,
    ) -> Option<usize> {
        let bytes = self.src.as_bytes();
        let mut at = range.start;
        while at < range.end {
            let c = bytes[at];
            if self.code_end[at] != 0 {
                at = self.code_end[at];
            } else if c == b'['
                && !in_link
                && let Some((_, _, end)) = self.link_at(at)
            {
                at = end;
            } else if c == marker {
                let run = run_len(bytes, at);
                if run == len && self.can_close(at, len) {
                    return Some(at);
                }
                at += run;
            } else {
                at += 1;
            }
        }
        None
    }

    /// A run of text: bare URLs (outside links) and mentions out of it, the rest `Text`.
    fn push_text(&self, out: &mut Vec<Inline<'a>>, range: Range<usize>, in_link: bool) {
        let mut rest = &self.src[range];
        while !in_link && let Some((start, end)) = next_url(rest) {
            push_plain(out, &rest[..start]);
            match Href::parse(&rest[start..end]) {
                Some(href) => out.push(Inline::Url(href)),
                None => push_plain(out, &rest[start..end]),
            }
            rest = &rest[end..];
        }
        push_plain(out, rest);
    }
}

/// Text with its `@name` mentions.
fn push_plain<'a>(out: &mut Vec<Inline<'a>>, text: &'a str) {
    let mut offset = 0;
    for segment in awareness::segments(text) {
        let (Segment::Text(piece) | Segment::Mention(piece)) = segment;
        match segment {
            Segment::Text(plain) => out.push(Inline::Text(plain)),
            Segment::Mention(mention) => {
                let after = offset + 1;
                let context_end = text[after..].find('@').map_or(text.len(), |n| after + n);
                out.push(Inline::Mention(Mention {
                    text: mention,
                    context: &text[offset..context_end],
                }));
            }
        }
        offset += piece.len();
    }
}

/// The next bare `http://` or `https://` URL in `text`, as a byte range.
fn next_url(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = bytes[from..]
        .iter()
        .position(|b| b.eq_ignore_ascii_case(&b'h'))
    {
        let start = from + found;
        from = start + 1;
        let scheme = ["http://", "https://"].into_iter().find(|scheme| {
            text.get(start..start + scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        });
        let Some(scheme) = scheme else { continue };
        if text[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            continue;
        }
        let run = text[start..]
            .find(|c: char| c.is_whitespace() || c.is_control())
            .map_or(text.len(), |n| start + n);
        let url = &text[start..run];
        let opens = url.bytes().filter(|&b| b == b'(').count();
        let mut closes = url.bytes().filter(|&b| b == b')').count();
        let mut end = run;
        while let Some(last) = text[..end].bytes().next_back() {
            match last {
                b')' if closes > opens => closes -= 1,
                b'.' | b',' | b':' | b';' | b'!' | b'?' | b'\'' | b'"' => {}
                _ => break,
            }
            end -= 1;
        }
        if end > start + scheme.len() {
            return Some((start, end));
        }
        from = run.max(from);
    }
    None
}

/// The length of the run of one byte starting at `at`.
fn run_len(bytes: &[u8], at: usize) -> usize {
    bytes[at..].iter().take_while(|&&b| b == bytes[at]).count()
}

/// The start of the next run of exactly `len` backticks at or after `from`.
fn find_run(bytes: &[u8], from: usize, len: usize) -> Option<usize> {
    let mut at = from;
    while let Some(found) = bytes[at..].iter().position(|&b| b == b'`') {
        let start = at + found;
        let run = run_len(bytes, start);
        if run == len {
            return Some(start);
        }
        at = start + run;
    }
    None
}
