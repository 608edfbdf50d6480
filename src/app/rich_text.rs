//! A message's text as the safe Markdown subset of `docs/API.md` ("Rendering"): the tree
//! of [`crate::markdown::parse`] turned into views.
//!
//! The server renders this component into the page and the browser hydrates the very
//! same component, so both run one code path (the parser and this file) by
//! construction; there is no second renderer to drift. Every piece of text becomes a
//! text node and every address an attribute value, both escaped by Leptos: nothing here
//! writes markup from a string (no `inner_html`), so `<b>` shows as `<b>`.

use crate::awareness;
use crate::markdown::{self, Block, Href, Inline};
use crate::message::DisplayName;
use leptos::prelude::*;

/// `text`, rendered. `me` is the viewer's name: a mention of it gets the class `me`, and
/// that class is all that follows `me` when it changes.
#[component]
pub fn RichText(text: String, #[prop(into)] me: Signal<Option<DisplayName>>) -> impl IntoView {
    let blocks = blocks_view(&markdown::parse(&text), me);
    view! { <div class="text">{blocks}</div> }
}

fn blocks_view(blocks: &[Block<'_>], me: Signal<Option<DisplayName>>) -> Vec<AnyView> {
    blocks
        .iter()
        .map(|block| match block {
            Block::Paragraph(inlines) => view! { <p>{inlines_view(inlines, me)}</p> }.into_any(),
            Block::Quote(blocks) => {
                view! { <blockquote>{blocks_view(blocks, me)}</blockquote> }.into_any()
            }
            Block::Code { lines, .. } => {
                // Leptos writes an empty string as one space; an empty block shows none.
                let code = Some(lines.join("\n")).filter(|code| !code.is_empty());
                view! { <pre><code>{code}</code></pre> }.into_any()
            }
        })
        .collect()
}

fn inlines_view(inlines: &[Inline<'_>], me: Signal<Option<DisplayName>>) -> Vec<AnyView> {
    inlines
        .iter()
        .map(|inline| match inline {
            Inline::Text(text) => (*text).to_owned().into_any(),
            Inline::Strong(children) => {
                view! { <strong>{inlines_view(children, me)}</strong> }.into_any()
            }
            Inline::Emphasis(children) => {
                view! { <em>{inlines_view(children, me)}</em> }.into_any()
            }
            Inline::Code(code) => view! { <code>{(*code).to_owned()}</code> }.into_any(),
            Inline::Link { href, children } => link(*href, inlines_view(children, me)),
            Inline::Url(href) => link(*href, vec![href.as_str().to_owned().into_any()]),
            Inline::Mention(mention) => {
                let context = mention.context().to_owned();
                let is_me = move || {
                    me.with(|me| {
                        me.as_ref()
                            .is_some_and(|me| awareness::mentions_name(&context, me))
                    })
                };
                view! { <span class="mention" class:me=is_me>{mention.text().to_owned()}</span> }
                    .into_any()
            }
        })
        .collect()
}

/// Every link opens in a new tab and tells the target nothing about the page.
fn link(href: Href<'_>, children: Vec<AnyView>) -> AnyView {
    view! {
        <a href=href.as_str().to_owned() rel="noopener noreferrer nofollow" target="_blank">
            {children}
        </a>
    }
    .into_any()
}

/// `text`, rendered as [`RichText`] renders it, written straight into `out` as HTML:
/// how the server writes a page's messages (`messages/page_html.rs`), about ten times
/// faster than rendering the views. The same tree from the same parser, and every
/// text and attribute escaped as Leptos escapes them; the tests below hold the two to
/// the same HTML for every input, hostile ones included.
#[cfg(feature = "ssr")]
pub fn write_html(text: &str, me: Option<&DisplayName>, out: &mut String) {
    out.push_str("<div class=\"text\">");
    write_blocks(&markdown::parse(text), me, out);
    out.push_str("</div>");
}

#[cfg(feature = "ssr")]
fn write_blocks(blocks: &[Block<'_>], me: Option<&DisplayName>, out: &mut String) {
    use html_escape::encode_text as text;
    for block in blocks {
        match block {
            Block::Paragraph(inlines) => {
                out.push_str("<p>");
                write_inlines(inlines, me, out);
                out.push_str("</p>");
            }
            Block::Quote(blocks) => {
                out.push_str("<blockquote>");
                write_blocks(blocks, me, out);
                out.push_str("</blockquote>");
            }
            Block::Code { lines, .. } => {
                out.push_str("<pre><code>");
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(&text(line));
                }
                out.push_str("</code></pre>");
            }
        }
    }
}

#[cfg(feature = "ssr")]
fn write_inlines(inlines: &[Inline<'_>], me: Option<&DisplayName>, out: &mut String) {
    use html_escape::{encode_double_quoted_attribute as attribute, encode_text as text};
    let tagged = |tag: &str, children: &[Inline<'_>], out: &mut String| {
        out.push_str(&format!("<{tag}>"));
        write_inlines(children, me, out);
        out.push_str(&format!("</{tag}>"));
    };
    for inline in inlines {
        match inline {
            Inline::Text(raw) => out.push_str(&text(raw)),
            Inline::Strong(children) => tagged("strong", children, out),
            Inline::Emphasis(children) => tagged("em", children, out),
            Inline::Code(code) => {
                out.push_str("<code>");
                out.push_str(&text(code));
                out.push_str("</code>");
            }
            Inline::Link { href, children } => {
                write_link_start(&attribute(href.as_str()), out);
                write_inlines(children, me, out);
                out.push_str("</a>");
            }
            Inline::Url(href) => {
                write_link_start(&attribute(href.as_str()), out);
                out.push_str(&text(href.as_str()));
                out.push_str("</a>");
            }
            Inline::Mention(mention) => {
                let is_me = me.is_some_and(|me| awareness::mentions_name(mention.context(), me));
                out.push_str(if is_me {
                    "<span class=\"mention me\">"
                } else {
                    "<span class=\"mention\">"
                });
                out.push_str(&text(mention.text()));
                out.push_str("</span>");
            }
        }
    }
}

#[cfg(feature = "ssr")]
fn write_link_start(href: &str, out: &mut String) {
    out.push_str("<a href=\"");
    out.push_str(href);
    out.push_str("\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">");
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    /// The HTML of `text`, without the `<!>` markers Leptos leaves for hydration; and
    /// [`write_html`] writes the very same.
    fn html_for(text: &str, me: Option<&str>) -> String {
        let owner = Owner::new();
        owner.with(|| {
            let me = me.map(|name| DisplayName::parse(name).unwrap());
            let mut written = String::new();
            write_html(text, me.as_ref(), &mut written);
            let rendered = view! { <RichText text=text.to_owned() me=Signal::stored(me) /> }
                .to_html()
                .replace("<!>", "")
                // (Leptos leaves a space where a `class:` is off.)
                .replace("class=\"mention \"", "class=\"mention\"");
            assert_eq!(written, rendered, "{text:?} written as the view renders it");
            rendered
        })
    }

    proptest::proptest! {
        /// Any text, Markdown markers, markup and mentions mixed, is written as rendered.
        #[test]
        fn any_text_is_written_as_rendered(
            text in "([ *_`>\\[\\]()@<&\"'\n]|https://a|mailto:b|bob|x|```){0,40}",
            me in proptest::option::of("bob|Bob|x"),
        ) {
            html_for(&text, me.as_deref());
        }
    }

    fn html(text: &str) -> String {
        html_for(text, None)
    }

    /// Every tag of `html`: its name and attributes. Text never holds a `<` (Leptos
    /// escapes it), so each `<` opens a tag, and attribute values are double-quoted.
    fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
        html.split('<')
            .skip(1)
            .map(|tag| {
                let inside = &tag[..tag.find('>').expect("a tag ends")];
                let (name, mut rest) = inside.split_once(' ').unwrap_or((inside, ""));
                let mut attributes = Vec::new();
                while let Some((key, after)) = rest.split_once("=\"") {
                    let (value, after) = after.split_once('"').expect("a value ends");
                    attributes.push((key.trim().to_owned(), value.to_owned()));
                    rest = after;
                }
                assert!(rest.trim().is_empty(), "stray {rest:?} in <{inside}>");
                (name.to_owned(), attributes)
            })
            .collect()
    }

    #[test]
    fn markdown_becomes_the_matching_elements() {
        assert_eq!(html("x"), "<div class=\"text\"><p>x</p></div>");
        assert!(html("a **bold** b").contains("<p>a <strong>bold</strong> b</p>"));
        assert!(html("*it* _too_").contains("<em>it</em> <em>too</em>"));
        assert!(html("`x < y`").contains("<code>x &lt; y</code>"));
        assert!(html("```rust\nfn a() {}\n\n```").contains("<pre><code>fn a() {}\n</code></pre>"));
        assert!(html("```\n```").contains("<pre><code></code></pre>"));
        assert!(
            html("> said\n>> back").contains(
                "<blockquote><p>said</p><blockquote><p>back</p></blockquote></blockquote>"
            )
        );
        assert!(html("one\ntwo").contains("<p>one\ntwo</p>"));
    }

    #[test]
    fn links_open_apart_with_the_right_rel() {
        let page = html("see https://example.com/a_(b).");
        assert!(
            page.contains(
                "<a href=\"https://example.com/a_(b)\" rel=\"noopener noreferrer nofollow\" \
                 target=\"_blank\">https://example.com/a_(b)</a>."
            ),
            "{page}"
        );
        let page = html("[**docs**](mailto:a@b.c)");
        assert!(
            page.contains(
                "<a href=\"mailto:a@b.c\" rel=\"noopener noreferrer nofollow\" \
                 target=\"_blank\"><strong>docs</strong></a>"
            ),
            "{page}"
        );
    }

    #[test]
    fn a_mention_of_the_viewer_is_marked() {
        let page = html_for("hi @alice and @bob", Some("Alice"));
        assert!(
            page.contains("<span class=\"mention me\">@alice</span>"),
            "{page}"
        );
        assert!(
            page.contains("<span class=\"mention\">@bob</span>"),
            "{page}"
        );
        let page = html_for("ask @mary ann", Some("Mary Ann"));
        assert!(
            page.contains("<span class=\"mention me\">@mary</span>"),
            "{page}"
        );
        let page = html("hi @alice");
        assert!(
            page.contains("<span class=\"mention\">@alice</span>"),
            "{page}"
        );
    }

    #[test]
    fn hostile_text_stays_text() {
        let corpus = [
            "<img src=x onerror=alert(1)>",
            "<script>alert(1)</script>",
            "**<script>alert(1)</script>**",
            "`<img src=x onerror=alert(1)>`",
            "```\n<script>alert(1)</script>\n```",
            "> <img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x]( javascript:alert(1))",
            "[x](data:text/html,<script>alert(1)</script>)",
            "[x](vbscript:msgbox(1))",
            "[x](&#106;avascript:alert(1))",
            "&lt;b&gt;x&lt;/b&gt;",
            "[<b>x</b>](https://a)",
            "[<img src=x onerror=alert(1)>](https://a)",
            "https://a/\"onmouseover=alert(1)",
            "https://a/'onmouseover='alert(1)",
            "https://a/\"><script>alert(1)</script>",
            "[x](https://a/\"onmouseover=alert(1))",
            "@<script>",
        ];
        let elements = [
            "div",
            "p",
            "strong",
            "em",
            "code",
            "pre",
            "blockquote",
            "a",
            "span",
        ];
        for text in corpus {
            let page = html(text);
            for (name, attributes) in tags(&page) {
                let name = name.trim_start_matches('/');
                assert!(elements.contains(&name), "{text:?} gave <{name}>: {page}");
                for (key, value) in attributes {
                    match key.as_str() {
                        "class" | "rel" | "target" => {}
                        "href" => assert!(
                            ["http://", "https://", "mailto:"]
                                .iter()
                                .any(|s| value.starts_with(s)),
                            "{text:?} gave href {value:?}"
                        ),
                        other => panic!("{text:?} gave the attribute {other}: {page}"),
                    }
                }
            }
            assert!(
                !page.contains("<img") && !page.contains("<script"),
                "{page}"
            );
        }
        assert!(html("&lt;b&gt;").contains("<p>&amp;lt;b&amp;gt;</p>"));
        assert!(html("<b>x</b>").contains("<p>&lt;b&gt;x&lt;/b&gt;</p>"));
        assert!(
            html("https://a/\"onmouseover=alert(1)")
                .contains("href=\"https://a/&quot;onmouseover=alert(1)\"")
        );
    }

    #[test]
    fn the_same_text_renders_the_same_html() {
        let text = "> **a** @bob\n```\nx\n```\n[l](https://a) https://b *c* `d`";
        assert_eq!(html_for(text, Some("bob")), html_for(text, Some("bob")));
    }
}
