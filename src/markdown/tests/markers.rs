//! Bold, italic and code spans: how the markers read, nest, and stay text.

use super::*;

#[test]
fn bold_italic_and_code_are_marked() {
    assert_eq!(
        inlines("a **b** *c* _d_ `e`"),
        [
            Text("a "),
            Strong(vec![Text("b")]),
            Text(" "),
            Emphasis(vec![Text("c")]),
            Text(" "),
            Emphasis(vec![Text("d")]),
            Text(" "),
            Code("e"),
        ]
    );
    assert_eq!(
        inlines("***both***"),
        [Strong(vec![Emphasis(vec![Text("both")])])]
    );
    assert_eq!(inlines("``a ` b``"), [Code("a ` b")]);
}

#[test]
fn markers_nest() {
    assert_eq!(
        inlines("*a **b** c*"),
        [Emphasis(vec![
            Text("a "),
            Strong(vec![Text("b")]),
            Text(" c")
        ])]
    );
    assert_eq!(
        inlines("**[*x* `y`](https://a)**"),
        [Strong(vec![link(
            "https://a",
            vec![Emphasis(vec![Text("x")]), Text(" "), Code("y")]
        )])]
    );
    assert_eq!(
        parse("> a `*b*`"),
        [Block::Quote(vec![Block::Paragraph(vec![
            Text("a "),
            Code("*b*")
        ])])]
    );
}

#[test]
fn unclosed_and_misplaced_markers_are_text() {
    for text in [
        "**bold",
        "*a",
        "a*",
        "`code",
        "2 * 3 * 4",
        "snake_case_name",
        "__init__",
        "****",
        "* a*",
        "**a*",
        "[a](",
        "[a] (b)",
        "[](b)",
        "[a](b c)",
    ] {
        assert_eq!(inlines(text), [Text(text)], "{text:?}");
    }
}

#[test]
fn inline_markers_do_not_work_inside_code() {
    assert_eq!(
        inlines("`**a** [b](https://c) @d`"),
        [Code("**a** [b](https://c) @d")]
    );
    assert_eq!(
        parse("```\n**a** https://b\n> c\n```"),
        [Block::Code {
            info: "",
            lines: vec!["**a** https://b", "> c"]
        }]
    );
    // A code span binds before emphasis around it.
    assert_eq!(inlines("*a `b* c`"), [Text("*a "), Code("b* c")]);
}
