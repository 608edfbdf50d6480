//! Links, bare URLs and mentions.

use super::*;
use crate::awareness;

#[test]
fn links_need_an_allowed_scheme() {
    assert_eq!(
        inlines("see [the docs](https://a.b/c_(d)) now"),
        [
            Text("see "),
            link("https://a.b/c_(d)", vec![Text("the docs")]),
            Text(" now"),
        ]
    );
    assert_eq!(
        inlines("[mail](mailto:a@b.c)"),
        [link("mailto:a@b.c", vec![Text("mail")])]
    );
    assert_eq!(
        inlines("[x](HTTP://A)"),
        [link("HTTP://A", vec![Text("x")])]
    );
    for literal in ["[x](ftp://a)", "[x](/relative)", "[x](#top)", "[x](//a.b)"] {
        assert_eq!(inlines(literal), [Text(literal)], "{literal:?}");
    }
    // Not links, but the URL inside is one.
    assert_eq!(
        inlines("[](https://a) [a](https://a b)"),
        [
            Text("[]("),
            url("https://a"),
            Text(") [a]("),
            url("https://a"),
            Text(" b)"),
        ]
    );
    // A rejected link is text, all of it: no bold inside.
    assert_eq!(inlines("[**x**](ftp://a)"), [Text("[**x**](ftp://a)")]);
}

#[test]
fn a_link_never_holds_a_link() {
    assert_eq!(
        inlines("[a [b](https://b) https://c](https://a)"),
        [link("https://a", vec![Text("a [b](https://b) https://c")])]
    );
}

#[test]
fn bare_urls_become_links_without_trailing_punctuation() {
    assert_eq!(
        inlines("go to https://a.b/c."),
        [Text("go to "), url("https://a.b/c"), Text(".")]
    );
    assert_eq!(
        inlines("(see http://a.b/x_(y)), 'https://c.d'"),
        [
            Text("(see "),
            url("http://a.b/x_(y)"),
            Text("), '"),
            url("https://c.d"),
            Text("'"),
        ]
    );
    assert_eq!(
        inlines("https://a.b\u{1}c"),
        [url("https://a.b"), Text("\u{1}c")]
    );
    assert_eq!(
        inlines("**https://a.b**"),
        [Strong(vec![url("https://a.b")])]
    );
    assert_eq!(
        inlines("xhttps://a.b http:// https://"),
        [Text("xhttps://a.b http:// https://")]
    );
}

#[test]
fn mentions_are_highlighted_in_text_runs_with_their_context() {
    let found: Vec<_> = inlines("hi @mary ann and **@bob**, mail a@b.c")
        .iter()
        .flat_map(|i| match i {
            Strong(children) => children.iter().filter_map(mention).collect(),
            other => mention(other).into_iter().collect::<Vec<_>>(),
        })
        .collect();
    assert_eq!(
        found,
        [
            ("@mary".to_owned(), "@mary ann and ".to_owned()),
            ("@bob".to_owned(), "@bob".to_owned()),
        ]
    );
    let mary_ann = crate::message::DisplayName::parse("Mary Ann").unwrap();
    assert!(awareness::mentions_name(&found[0].1, &mary_ann));
    assert!(!awareness::mentions_name(&found[1].1, &mary_ann));
    // A URL is not a mention.
    assert_eq!(inlines("https://a.b/@c"), [url("https://a.b/@c")]);
}
