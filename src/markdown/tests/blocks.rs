//! Blocks and lines: fenced code, quotes, line breaks, and the Markdown that stays text.

use super::*;

#[test]
fn fenced_code_keeps_its_lines_and_ignores_the_language() {
    assert_eq!(
        parse("before\n```rust\nfn x() {\n\n    y\n```\nafter"),
        [
            Block::Paragraph(vec![Text("before")]),
            Block::Code {
                info: "rust",
                lines: vec!["fn x() {", "", "    y"]
            },
            Block::Paragraph(vec![Text("after")]),
        ]
    );
    // No closing fence: text.
    assert_eq!(
        parse("```\nx"),
        [Block::Paragraph(vec![Text("```"), Text("\n"), Text("x")])]
    );
    // A closing fence needs as many backticks.
    assert_eq!(
        parse("````\n```\n````"),
        [Block::Code {
            info: "",
            lines: vec!["```"]
        }]
    );
    // One line between backticks is a code span.
    assert_eq!(inlines("```a```"), [Code("a")]);
}

#[test]
fn quotes_hold_blocks_and_nest() {
    assert_eq!(
        parse("> a\n>b\nc"),
        [
            Block::Quote(vec![Block::Paragraph(vec![
                Text("a"),
                Text("\n"),
                Text("b")
            ])]),
            Block::Paragraph(vec![Text("c")]),
        ]
    );
    assert_eq!(
        parse(">> deep\n> ```\n> x\n> ```"),
        [Block::Quote(vec![
            Block::Quote(vec![Block::Paragraph(vec![Text("deep")])]),
            Block::Code {
                info: "",
                lines: vec!["x"]
            },
        ])]
    );
    // Quotes stop nesting at the bound; deeper `>` are text.
    let deep = ">".repeat(MAX_QUOTE_DEPTH + 2) + "x";
    let mut blocks = parse(&deep);
    for _ in 0..MAX_QUOTE_DEPTH {
        let [Block::Quote(inner)] = blocks.as_slice() else {
            panic!("{blocks:?}")
        };
        blocks = inner.clone();
    }
    assert_eq!(blocks, [Block::Paragraph(vec![Text(">>x")])]);
}

#[test]
fn lines_and_blank_lines_are_kept() {
    assert_eq!(
        inlines("a\n\n *b*\n"),
        [
            Text("a"),
            Text("\n"),
            Text("\n"),
            Text(" "),
            Emphasis(vec![Text("b")]),
            Text("\n"),
        ]
    );
    // Markers do not reach across lines.
    assert_eq!(inlines("**a\nb**"), [Text("**a"), Text("\n"), Text("b**")]);
}

#[test]
fn everything_else_is_text_as_typed() {
    for text in [
        "# not a heading",
        "1. not a list",
        "- not a list",
        "[a]: http://x",
        "    not code",
        "&lt;b&gt; &amp; &#106;",
        "| a | b |",
        "<b>bold?</b>",
        "a\\*b",
    ] {
        assert_eq!(visible(&parse(text)), text, "{text:?}");
    }
    assert_eq!(
        inlines("![img](https://a)"),
        [Text("!"), link("https://a", vec![Text("img")])]
    );
}
