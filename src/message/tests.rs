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
