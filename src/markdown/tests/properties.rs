//! Properties over generated text (proptest).

use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn parsing_keeps_every_character_that_is_not_a_marker(
        text in "\\PC{0,300}|((\\*|\\*\\*|_|`|```|\n|> |\\[|\\]|\\(|\\)|https://|javascript:|mailto:|a@b|@a| |a|\\.|,|\u{1}|\t){0,80})"
    ) {
        let blocks = parse(&text);
        // Nothing that is not a marker or whitespace is lost or added, in order...
        prop_assert_eq!(without_markers(&held(&blocks)), without_markers(&text));
        // ...and what is seen is the text with some characters taken out.
        let shown = visible(&blocks);
        let mut rest = text.chars();
        prop_assert!(shown.chars().all(|c| rest.any(|r| r == c)), "{:?} is not within {:?}", shown, text);
        let mut found = Vec::new();
        hrefs(&blocks, &mut found);
        for href in found {
            prop_assert!(Href::parse(href).is_some(), "{:?}", href);
        }
    }

    #[test]
    fn a_line_without_markers_skips_the_parse_and_reads_the_same(
        line in "([a-z0-9 .,!?<&;#=\"':/\\t()\\]é]|https://|mailto:|http:/|>){0,60}"
    ) {
        let (mut quick, mut parsed) = (Vec::new(), Vec::new());
        line_inlines(&line, &mut quick);
        parsed_line_inlines(&line, &mut parsed);
        prop_assert_eq!(quick, parsed);
    }

    #[test]
    fn text_without_markers_is_seen_as_typed(text in "[a-z0-9 \n.,!?<&;#=\"']{0,200}") {
        prop_assert_eq!(visible(&parse(&text)), text);
    }
}
