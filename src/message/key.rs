//! A name's identity where it is held (server only): [`DisplayName::key`].

use super::DisplayName;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use unicode_security::skeleton;

impl DisplayName {
    /// The name's identity wherever it is held or limited: names with one key are one
    /// name, so that while `Mason` is held, `mason`, `Mаson` (a Cyrillic `а`), `Ｍａｓｏｎ`
    /// and `𝐌𝐚𝐬𝐨𝐧` are taken. Only the server needs it; the browser compares names by
    /// [`DisplayName::canonical`], which presence lists are also sorted by.
    ///
    /// It is the confusable skeleton of Unicode TS #39 taken of the name's NFKC lowercase,
    /// so that it depends on `canonical()` alone and names that are one name by case stay
    /// so. Taken over and over until it no longer changes, each time:
    ///
    /// - of the capitals, then of the small letters: lowercase loses which letters were
    ///   capitals, and `Мason` with a Cyrillic capital `М` lowercases to `мason`, which
    ///   has another skeleton than `mason`, while `МASON` has the skeleton of `MASON`;
    /// - lowercased after each skeleton, because a skeleton is often in capitals (`0` is
    ///   `O`, `I` is `l`), and again because the lowercase of one may have a skeleton of its
    ///   own (`ᗰ` is `M`, `m` is `rn`).
    ///
    /// No key can be both blind to case and equal for every pair TS #39 calls confusable:
    /// Greek `ν` looks like `v` but its capital `Ν` like `N`. Where the two disagree this
    /// key follows the capitals (`the_key_of_a_look_alike_letter_is_the_latin_letters`
    /// lists such letters), and it makes `i`, `l` and `1` one letter, and `o` and `0`, as
    /// TS #39 does for `I`, `l` and `1` (`Ilya` and `llya` are one name).
    pub fn key(&self) -> String {
        if self.as_str().is_ascii() {
            let keys = &*ASCII_KEYS;
            return self
                .as_str()
                .bytes()
                .map(|b| &*keys[usize::from(b)])
                .collect();
        }
        key_of(self.as_str())
    }
}

/// Each ASCII character's key, from [`key_of`]. An ASCII name's key is its characters'
/// keys in a row (ASCII changes case, and has skeletons, one character at a time), and
/// reading them costs about a thirtieth of taking them (80 ns against 2.4 µs for a short
/// name, release build): the server takes keys on every post. Held to `key_of` by
/// `an_ascii_name_has_the_key_of_its_characters`.
static ASCII_KEYS: LazyLock<[String; 128]> =
    LazyLock::new(|| std::array::from_fn(|b| key_of(char::from(b as u8).encode_utf8(&mut [0; 4]))));

/// Rounds after which [`key_of`] stops even if the key still changes; every single
/// letter's key settles within two (`a_key_is_its_own_key` checks them all).
const MAX_ROUNDS: usize = 8;

pub(super) fn key_of(name: &str) -> String {
    let mut key: String = name.to_lowercase().nfkc().collect();
    for _ in 0..MAX_ROUNDS {
        let capitals = lower_skeleton(&key.to_uppercase());
        let next = lower_skeleton(&capitals);
        if next == key {
            break;
        }
        key = next;
    }
    key
}

fn lower_skeleton(text: &str) -> String {
    skeleton(text).collect::<String>().to_lowercase()
}
