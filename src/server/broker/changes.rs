//! What a change does to a message, the same for both brokers: the memory broker applies
//! it under its lock, the Redis broker applies it here and stores the result only if the
//! message did not change meanwhile (and tries again if it did).

use super::{BrokerError, BrokerResult, ChangeKind, Holder};
use crate::message::{
    ChatMessage, MAX_EMOJI_PER_MESSAGE, MAX_REACTIONS_PER_MESSAGE, Reaction, rfc3339_millis,
};

/// A change's effect on the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do: the same text, a reaction already there, or one that is not.
    Same,
    Updated(ChatMessage),
    Deleted,
}

/// Applies `kind`, asked by `author` at `now_ms`, to `current`. An edit or a delete of
/// someone else's message is [`BrokerError::Forbidden`]: one by another name, or by the
/// same name before `author`'s holding of it began (a guest's name released and taken
/// again is another person). A reaction past the message's limits is
/// [`BrokerError::TooManyReactions`].
pub fn apply(
    current: &ChatMessage,
    kind: &ChangeKind,
    author: &Holder,
    now_ms: u64,
) -> BrokerResult<Outcome> {
    let own = current.sender.same_name(&author.name) && current.id.ms >= author.since;
    match kind {
        ChangeKind::Edit(_) | ChangeKind::Delete if !own => Err(BrokerError::Forbidden),
        ChangeKind::Edit(text) if text.as_str() == current.text => Ok(Outcome::Same),
        ChangeKind::Edit(text) => {
            let mut message = current.clone();
            message.text = text.as_str().to_owned();
            // Never before the message itself, whatever this node's clock says.
            message.edited_at = Some(rfc3339_millis(now_ms.max(current.id.ms)));
            Ok(Outcome::Updated(message))
        }
        ChangeKind::Delete => Ok(Outcome::Deleted),
        ChangeKind::React(emoji) => {
            let mut message = current.clone();
            let reactions = &mut message.reactions;
            let index = reactions.iter().position(|r| r.emoji == emoji.as_str());
            if let Some(index) = index
                && reactions[index]
                    .names
                    .iter()
                    .any(|n| n.same_name(&author.name))
            {
                return Ok(Outcome::Same);
            }
            let total: usize = reactions.iter().map(|r| r.names.len()).sum();
            if total >= MAX_REACTIONS_PER_MESSAGE
                || (index.is_none() && reactions.len() >= MAX_EMOJI_PER_MESSAGE)
            {
                return Err(BrokerError::TooManyReactions);
            }
            match index {
                Some(index) => reactions[index].names.push(author.name.clone()),
                None => reactions.push(Reaction {
                    emoji: emoji.as_str().to_owned(),
                    names: vec![author.name.clone()],
                }),
            }
            Ok(Outcome::Updated(message))
        }
        ChangeKind::Unreact(emoji) => {
            let mut message = current.clone();
            let reactions = &mut message.reactions;
            let Some(index) = reactions.iter().position(|r| r.emoji == emoji.as_str()) else {
                return Ok(Outcome::Same);
            };
            let names = &mut reactions[index].names;
            let before = names.len();
            names.retain(|n| !n.same_name(&author.name));
            if names.len() == before {
                return Ok(Outcome::Same);
            }
            if names.is_empty() {
                reactions.remove(index);
            }
            Ok(Outcome::Updated(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        message::{DisplayName, MessageId, MessageText, RoomName},
        server::broker::log::Emoji,
    };

    fn holder(name: &str) -> Holder {
        Holder {
            name: DisplayName::parse(name).unwrap(),
            session_id: format!("s-{name}"),
            since: 0,
        }
    }

    fn message() -> ChatMessage {
        ChatMessage::new(
            MessageId::new(1, 0),
            RoomName::everyone(),
            DisplayName::parse("Ann").unwrap(),
            "hi".into(),
        )
    }

    fn updated(outcome: BrokerResult<Outcome>) -> ChatMessage {
        match outcome {
            Ok(Outcome::Updated(message)) => message,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    #[test]
    fn a_later_holding_of_the_name_may_not_edit_or_delete_but_may_react() {
        // The message is from ms 1; this holding of `ann` began at ms 2.
        let later = Holder {
            since: 2,
            ..holder("ann")
        };
        let text = ChangeKind::Edit(MessageText::parse("mine now").unwrap());
        for kind in [text.clone(), ChangeKind::Delete] {
            assert!(matches!(
                apply(&message(), &kind, &later, 7),
                Err(BrokerError::Forbidden)
            ));
        }
        let thumbs = ChangeKind::React(Emoji::parse("👍").unwrap());
        assert!(apply(&message(), &thumbs, &later, 7).is_ok());
        let from_the_start = Holder {
            since: 1,
            ..holder("ann")
        };
        assert!(apply(&message(), &text, &from_the_start, 7).is_ok());
    }

    #[test]
    fn only_the_sender_edits_or_deletes_and_the_same_text_is_no_edit() {
        let text = |t: &str| ChangeKind::Edit(MessageText::parse(t).unwrap());
        let edited = updated(apply(&message(), &text("hello"), &holder("ann"), 7));
        assert_eq!(edited.text, "hello");
        assert_eq!(
            edited.edited_at.as_deref(),
            Some("1970-01-01T00:00:00.007Z")
        );
        assert_eq!(
            apply(&message(), &text("hi"), &holder("ann"), 7).unwrap(),
            Outcome::Same
        );
        for kind in [text("x"), ChangeKind::Delete] {
            assert!(matches!(
                apply(&message(), &kind, &holder("bob"), 7),
                Err(BrokerError::Forbidden)
            ));
        }
        assert_eq!(
            apply(&message(), &ChangeKind::Delete, &holder("ANN"), 7).unwrap(),
            Outcome::Deleted
        );
    }

    #[test]
    fn reactions_count_each_name_once_in_order_and_vanish_when_empty() {
        let thumbs = || Emoji::parse("👍").unwrap();
        let one = updated(apply(
            &message(),
            &ChangeKind::React(thumbs()),
            &holder("bob"),
            1,
        ));
        assert_eq!(
            apply(&one, &ChangeKind::React(thumbs()), &holder("BOB"), 1).unwrap(),
            Outcome::Same
        );
        let two = updated(apply(&one, &ChangeKind::React(thumbs()), &holder("cy"), 1));
        let names: Vec<&str> = two.reactions[0].names.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["bob", "cy"]);
        let back = updated(apply(
            &two,
            &ChangeKind::Unreact(thumbs()),
            &holder("bob"),
            1,
        ));
        let gone = updated(apply(
            &back,
            &ChangeKind::Unreact(thumbs()),
            &holder("cy"),
            1,
        ));
        assert!(gone.reactions.is_empty());
        assert_eq!(
            apply(&gone, &ChangeKind::Unreact(thumbs()), &holder("cy"), 1).unwrap(),
            Outcome::Same
        );
    }

    #[test]
    fn a_message_holds_at_most_twenty_emoji() {
        let mut current = message();
        let all: Vec<&emojis::Emoji> = emojis::iter().take(MAX_EMOJI_PER_MESSAGE + 1).collect();
        for emoji in &all[..MAX_EMOJI_PER_MESSAGE] {
            let kind = ChangeKind::React(Emoji::parse(emoji.as_str()).unwrap());
            current = updated(apply(&current, &kind, &holder("bob"), 1));
        }
        let one_more =
            ChangeKind::React(Emoji::parse(all[MAX_EMOJI_PER_MESSAGE].as_str()).unwrap());
        assert!(matches!(
            apply(&current, &one_more, &holder("bob"), 1),
            Err(BrokerError::TooManyReactions)
        ));
        let again = ChangeKind::React(Emoji::parse(all[0].as_str()).unwrap());
        assert_eq!(current.reactions.len(), MAX_EMOJI_PER_MESSAGE);
        updated(apply(&current, &again, &holder("cy"), 1));
    }
}
