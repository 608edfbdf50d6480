use super::*;

#[test]
fn room_names_follow_the_documented_pattern() {
    for ok in ["everyone", "a", "0", "dev-ops_2", &"x".repeat(32)] {
        assert!(RoomName::parse(ok).is_ok(), "{ok:?} should be a room");
    }
    for bad in [
        "",
        "-a",
        "_a",
        "Caps",
        "has space",
        "é",
        &"x".repeat(33),
        "a/b",
        "a.b",
    ] {
        assert!(
            RoomName::parse(bad).is_err(),
            "{bad:?} should not be a room"
        );
    }
}

#[test]
fn display_names_are_trimmed_and_allow_unicode_letters() {
    assert_eq!(DisplayName::parse("  mason ").unwrap().as_str(), "mason");
    assert_eq!(
        DisplayName::parse("Zoë o.k_-1").unwrap().as_str(),
        "Zoë o.k_-1"
    );
    assert_eq!(DisplayName::parse("山田").unwrap().as_str(), "山田");
    assert!(DisplayName::parse(&"é".repeat(24)).is_ok());
    for bad in [
        "",
        "   ",
        "a\tb",
        "a\u{0}",
        "<b>",
        "a@b",
        &"é".repeat(25),
        "x\ny",
    ] {
        assert!(
            DisplayName::parse(bad).is_err(),
            "{bad:?} should not be a name"
        );
    }
}

#[test]
fn invisible_characters_are_not_names() {
    for bad in [
        // The Hangul fillers are letters that draw nothing.
        "Mas\u{3164}on",
        "\u{115F}",
        "\u{1160}Mason",
        "Mason\u{FFA0}",
        // Zero-width and joining characters, direction overrides, marks, tags.
        "Ma\u{200B}son",
        "Ma\u{200C}son",
        "Ma\u{200D}son",
        "Ma\u{00AD}son",
        "Ma\u{2060}son",
        "Ma\u{FEFF}son",
        "\u{202E}nosaM",
        "Ma\u{061C}son",
        "Ma\u{034F}son",
        "Ma\u{180E}son",
        "Ma\u{FE0F}son",
        "Mason\u{E0041}",
        // Other format characters.
        "\u{0600}1",
        "Ma\u{06DD}son",
        "Ma\u{110BD}son",
    ] {
        assert_eq!(
            DisplayName::parse(bad),
            Err(InvalidName),
            "{bad:?} should not be a name"
        );
    }
}

#[test]
fn message_text_is_checked_trimmed_but_kept_as_typed() {
    assert_eq!(MessageText::parse(" hi <b> ").unwrap().as_str(), " hi <b> ");
    assert!(MessageText::parse(&"é".repeat(2000)).is_ok());
    assert!(MessageText::parse(&"é".repeat(2001)).is_err());
    assert!(MessageText::parse(" \n\t ").is_err());
    assert!(MessageText::parse("").is_err());
    // The bound holds for the text as sent, padding included.
    assert!(MessageText::parse(&format!("hi{}", " ".repeat(1998))).is_ok());
    assert!(MessageText::parse(&format!("hi{}", " ".repeat(1999))).is_err());
}

#[test]
fn names_compare_case_insensitively_in_unicode() {
    let name = |raw| DisplayName::parse(raw).unwrap();
    assert!(name(" Mason ").same_name(&name("mason")));
    assert!(name("ZOË").same_name(&name("zoë")));
    assert!(!name("zoe").same_name(&name("zoë")));
    assert_eq!(name("Straße").canonical(), "straße");
}

#[test]
fn message_ids_round_trip_and_order_numerically() {
    let a: MessageId = "1732400000000-9".parse().unwrap();
    let b: MessageId = "1732400000000-10".parse().unwrap();
    let c: MessageId = "1732400000001-0".parse().unwrap();
    assert!(a < b && b < c);
    assert_eq!(b.to_string(), "1732400000000-10");
    for bad in [
        "",
        "1",
        "-1",
        "1-",
        "a-1",
        "1-1-1",
        "+1-1",
        "1 -1",
        "99999999999999999999-0",
    ] {
        assert!(
            bad.parse::<MessageId>().is_err(),
            "{bad:?} should not be an id"
        );
    }
}

#[test]
fn timestamps_format_as_rfc3339_with_milliseconds() {
    assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        rfc3339_millis(1_732_400_000_123),
        "2024-11-23T22:13:20.123Z"
    );
    assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn a_chat_message_serializes_to_the_documented_shape() {
    let message = ChatMessage::new(
        MessageId::new(1_732_400_000_000, 0),
        RoomName::everyone(),
        DisplayName::parse("mason").unwrap(),
        "hi <b>".into(),
    );
    let json = serde_json::to_string(&message).unwrap();
    assert_eq!(
        json,
        r#"{"id":"1732400000000-0","room":"everyone","sender":"mason","text":"hi <b>","sent_at":"2024-11-23T22:13:20.000Z"}"#
    );
    assert_eq!(serde_json::from_str::<ChatMessage>(&json).unwrap(), message);
}

/// A name's key: one for look-alikes, another for names that differ.
#[cfg(feature = "ssr")]
mod keys {
    use super::super::{key::key_of, *};
    use unicode_security::skeleton;

    pub fn name(raw: &str) -> DisplayName {
        DisplayName::parse(raw).unwrap()
    }

    fn skeleton_of(text: &str) -> String {
        skeleton(text).collect()
    }

    /// Latin letters and characters of other scripts and forms that Unicode TS #39 says
    /// look like them (`every_look_alike_in_the_table_is_one_by_ts39` checks it).
    pub const LOOK_ALIKES: &[(char, &str)] = &[
        ('A', "АΑＡ𝐀𝐴"),
        ('B', "ВΒＢ𝐁"),
        ('C', "СＣ𝐂"),
        ('E', "ЕΕＥ𝐄"),
        ('H', "НΗＨ𝐇"),
        ('I', "lІΙ1Ｉ𝐈"),
        ('J', "ЈＪ𝐉"),
        ('K', "КΚＫ𝐊\u{212A}"),
        ('M', "МΜＭ𝐌Ⅿ"),
        ('N', "ΝＮ𝐍"),
        ('O', "ОΟ0Ｏ𝐎"),
        ('P', "РΡＰ𝐏"),
        ('S', "ЅＳ𝐒"),
        ('T', "ТΤＴ𝐓"),
        ('X', "ХΧＸ𝐗"),
        ('Y', "ҮΥＹ𝐘"),
        ('Z', "ΖＺ𝐙"),
        ('a', "аａ𝐚"),
        ('c', "сｃ𝐜"),
        ('e', "еｅ𝐞"),
        ('i', "іｉ𝐢"),
        ('j', "јｊ𝐣"),
        ('m', "ｍ𝐦"),
        ('n', "ｎ𝐧"),
        ('o', "оοｏ𝐨"),
        ('p', "рρｐ𝐩"),
        ('s', "ѕｓ𝐬"),
        ('v', "ｖ𝐯"),
        ('x', "хｘ𝐱"),
        ('y', "уｙ𝐲"),
    ];

    #[test]
    fn every_look_alike_in_the_table_is_one_by_ts39() {
        for (latin, alikes) in LOOK_ALIKES {
            for alike in alikes.chars() {
                assert_eq!(
                    skeleton_of(&alike.to_string()),
                    skeleton_of(&latin.to_string()),
                    "{alike:?} should look like {latin:?}"
                );
            }
        }
    }

    #[test]
    fn look_alikes_of_a_name_share_its_key() {
        let mason = name("Mason").key();
        for alike in [
            "mason",
            "MASON",
            "M\u{0430}son",
            "\u{041C}ason",
            "\u{039C}\u{0391}\u{0405}\u{039F}\u{039D}",
            "Ｍａｓｏｎ",
            "𝐌𝐚𝐬𝐨𝐧",
            "\u{216F}ason",
            "\u{15F0}ason",
            "Mas0n",
            "rnason",
        ] {
            assert_eq!(name(alike).key(), mason, "{alike:?} should be Mason");
        }
        // Refused by `parse` already, and the key drops it too.
        assert_eq!(key_of("Mas\u{3164}on"), mason);
        for (one, other) in [
            ("Ilya", "llya"),
            ("НАТО", "HATO"),
            ("Сергей", "Cepгeй"),
            ("Straße", "STRASSE"),
            ("ǅemal", "Džemal"),
        ] {
            assert_eq!(name(one).key(), name(other).key(), "{one:?} and {other:?}");
        }
    }

    #[test]
    fn names_that_differ_to_the_eye_have_different_keys() {
        for (one, other) in [
            ("Mason", "Jason"),
            // TS #39 keeps marks: `ö` is not `o`.
            ("Mason", "Masön"),
            ("Zoe", "Zoë"),
            ("Anna", "Anne"),
            ("Mary Ann", "Maryann"),
            ("mary.ann", "mary-ann"),
            ("Иван", "Ivan"),
            ("山田", "山口"),
        ] {
            assert_ne!(name(one).key(), name(other).key(), "{one:?} and {other:?}");
        }
    }

    /// Every letter and digit (`is_alphanumeric`) that TS #39 says looks like an ASCII
    /// letter or digit, with the key of that letter, but for these: letters whose small
    /// and capital forms look like different Latin letters (Greek `ν` like `v`, `Ν` like
    /// `N`), where the key follows the capital, and a few more of the kind.
    const KEYED_AS_THEIR_CAPITALS: &str = "ſƒƽνσυϭϲϹбгյռᲄⲅꞟꮁ𑣆𑣈𑣕𑣗𑣜\
        𝛎𝛔𝛖𝜈𝜎𝜐𝝂𝝈𝝊𝝼𝞂𝞄𝞶𝞼𝞾";

    #[test]
    fn the_key_of_a_look_alike_letter_is_the_latin_letters() {
        let latin: std::collections::HashMap<String, char> = ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .map(|c| (skeleton_of(&c.to_string()), c))
            .collect();
        let mut astray = Vec::new();
        for c in (char::MIN..=char::MAX).filter(|c| c.is_alphanumeric()) {
            let Some(&like) = latin.get(&skeleton_of(&c.to_string())) else {
                continue;
            };
            if key_of(&c.to_string()) != key_of(&like.to_string())
                && !KEYED_AS_THEIR_CAPITALS.contains(c)
            {
                astray.push((c, like));
            }
        }
        assert!(
            astray.is_empty(),
            "keyed apart from their look-alikes: {astray:?}"
        );
    }

    #[test]
    fn a_key_is_its_own_key() {
        for c in (char::MIN..=char::MAX).filter(|c| c.is_alphanumeric()) {
            let key = key_of(&c.to_string());
            assert_eq!(key_of(&key), key, "{c:?}");
        }
    }

    #[test]
    fn every_default_ignorable_character_is_refused_in_a_name() {
        // The skeleton drops exactly the Default_Ignorable_Code_Points (unicode-security's
        // table of them is private).
        for c in (char::MIN..=char::MAX).filter(|c| skeleton(&c.to_string()).next().is_none()) {
            assert!(DisplayName::parse(&format!("a{c}b")).is_err(), "{c:?}");
        }
    }
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_string_is_a_room_or_invalid_room_and_rooms_round_trip(raw in "\\PC{0,40}|[a-z0-9_-]{0,34}") {
            if let Ok(room) = RoomName::parse(&raw) {
                prop_assert_eq!(room.as_str(), raw.as_str());
                prop_assert!(raw.len() <= RoomName::MAX_LEN);
                let json = serde_json::to_string(&room).unwrap();
                prop_assert_eq!(serde_json::from_str::<RoomName>(&json).unwrap(), room);
            }
        }

        #[test]
        fn any_string_is_a_name_or_invalid_name_and_names_are_trimmed(raw in "\\PC{0,40}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(name.as_str(), raw.trim());
                prop_assert!((1..=DisplayName::MAX_CHARS).contains(&name.as_str().chars().count()));
                prop_assert!(!name.as_str().chars().any(char::is_control));
                prop_assert!(name.same_name(&DisplayName::parse(&name.canonical()).unwrap_or(name.clone())));
            }
        }

        #[test]
        #[cfg(feature = "ssr")]
        fn a_look_alike_of_a_latin_name_has_its_key(
            latin in "[A-Za-z]{1,12}",
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 12),
        ) {
            let alike: String = latin
                .chars()
                .zip(&picks)
                .map(|(c, pick)| {
                    super::keys::LOOK_ALIKES
                        .iter()
                        .find(|(l, _)| *l == c)
                        .map_or(c, |(_, alikes)| {
                            let alikes: Vec<char> = std::iter::once(c).chain(alikes.chars()).collect();
                            *pick.get(&alikes)
                        })
                })
                .collect();
            let (latin, alike) = (super::keys::name(&latin), super::keys::name(&alike));
            prop_assert_eq!(alike.key(), latin.key(), "{} looks like {}", alike, latin);
        }

        #[test]
        #[cfg(feature = "ssr")]
        fn a_key_is_blind_to_case_and_its_own_key(raw in "[\\PC&&[^\\p{Cf}]]{1,24}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                let key = name.key();
                for other in [name.as_str().to_lowercase(), name.as_str().to_uppercase()] {
                    if let Ok(other) = DisplayName::parse(&other) {
                        prop_assert_eq!(other.key(), key.clone(), "{} and {}", name, other);
                    }
                }
                if let Ok(again) = DisplayName::parse(&key) {
                    prop_assert_eq!(again.key(), key);
                }
            }
        }

        #[test]
        #[cfg(feature = "ssr")]
        fn an_ascii_name_has_the_key_of_its_characters(raw in "[ -~]{1,24}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(name.key(), super::super::key::key_of(name.as_str()));
            }
        }

        #[test]
        fn text_is_kept_as_sent_and_bounded_as_sent(raw in "\\PC{0,2100}|\\s{0,10}") {
            match MessageText::parse(&raw) {
                Ok(text) => {
                    prop_assert_eq!(text.as_str(), raw.as_str());
                    prop_assert!(raw.chars().count() <= MessageText::MAX_CHARS);
                    prop_assert!(!raw.trim().is_empty());
                }
                Err(_) => prop_assert!(raw.trim().is_empty() || raw.chars().count() > MessageText::MAX_CHARS),
            }
        }

        #[test]
        fn any_string_is_an_id_or_invalid_and_ids_round_trip(raw in "\\PC{0,44}|[0-9]{1,21}-[0-9]{1,21}") {
            if let Ok(id) = raw.parse::<MessageId>() {
                prop_assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
            }
        }

        #[test]
        fn ids_order_as_their_numbers(a in any::<(u64, u64)>(), b in any::<(u64, u64)>()) {
            let (x, y) = (MessageId::new(a.0, a.1), MessageId::new(b.0, b.1));
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x.to_string().parse::<MessageId>().unwrap(), x);
        }

        #[test]
        fn any_timestamp_formats_as_rfc3339(ms in 0u64..253_402_300_800_000) {
            let formatted = rfc3339_millis(ms);
            prop_assert_eq!(formatted.len(), 24);
            prop_assert!(formatted.ends_with('Z'));
        }

        #[test]
        fn any_json_is_a_message_or_an_error_never_a_panic(raw in "\\PC{0,200}") {
            let _ = serde_json::from_str::<ChatMessage>(&raw);
            let _ = serde_json::from_str::<Resync>(&raw);
        }
    }
}
