//! The stored formats' tests.

use super::*;

#[test]
fn last_read_ids_survive_a_bad_entry() {
    let read = parse_last_read(r#"{"dev":"5-1","Bad":"1-0","ops":"nope","qa":"0-0"}"#);
    let dev = RoomName::parse("dev").unwrap();
    let qa = RoomName::parse("qa").unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[&dev], MessageId::new(5, 1));
    assert_eq!(read[&qa], MessageId::new(0, 0));
    assert!(parse_last_read("not json").is_empty());
    // What follows the object makes it damaged as a whole, as serde_json's `from_str`
    // would say: nothing is read from it.
    assert!(parse_last_read(r#"{"dev":"5-1"} {"qa":"0-0"}"#).is_empty());
    assert_eq!(last_read_json(&read), r#"{"dev":"5-1","qa":"0-0"}"#);
}

#[test]
fn a_stored_session_without_a_tag_is_none() {
    let signed = Signed::parse(r#"{"name":"Ann","tag":"0123abcd"}"#).unwrap();
    assert_eq!(signed.name, DisplayName::parse("Ann").unwrap());
    assert_eq!(signed.tag, "0123abcd");
    assert_eq!(Signed::parse(r#"{"name":"Ann","tag":""}"#), None);
    assert_eq!(Signed::parse(r#"{"name":"Ann"}"#), None);
    // What the key held before sessions had tags: the time of the last change.
    assert_eq!(Signed::parse("1765111111111"), None);
}
