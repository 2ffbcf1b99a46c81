//! The identifier rules, and how a value is shown in an error.

use std::fmt;

use super::LimitError;

/// The longest id, in bytes of UTF-8. Real ids (UUIDs, natural keys, a
/// prefix and a number) are far shorter; the limit keeps every id, however
/// incompressible, well inside one PostgreSQL btree index entry (about
/// 2,700 bytes), which is what the unique indexes on stream and saga ids
/// need.
pub const MAX_ID_BYTES: usize = 1024;

/// How many bytes of a value an error message shows.
const SHOWN_BYTES: usize = 64;

/// Which kind of identifier broke a rule (named in the error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// A stream (aggregate) id of an event store.
    Stream,
    /// A saga id.
    Saga,
    /// A projection's name or id.
    Projection,
    /// The owner of a saga lease.
    LeaseOwner,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stream => "stream id",
            Self::Saga => "saga id",
            Self::Projection => "projection name",
            Self::LeaseOwner => "lease owner",
        })
    }
}

/// Checks `id` against the identifier rules (see the [module
/// docs](super)): not empty, at most [`MAX_ID_BYTES`] bytes, no control
/// characters.
///
/// ```
/// use orchestrix::limits::{IdKind, LimitError, check_id};
///
/// assert!(check_id(IdKind::Saga, "order-7/payment").is_ok());
/// assert_eq!(check_id(IdKind::Saga, ""), Err(LimitError::EmptyId { kind: IdKind::Saga }));
/// assert!(matches!(
///     check_id(IdKind::Stream, "a\0b"),
///     Err(LimitError::IdControlCharacter { code: 0, at: 1, .. })
/// ));
/// ```
pub fn check_id(kind: IdKind, id: &str) -> Result<(), LimitError> {
    if id.is_empty() {
        return Err(LimitError::EmptyId { kind });
    }
    if id.len() > MAX_ID_BYTES {
        return Err(LimitError::IdTooLong {
            kind,
            id: shorten(id),
            len: id.len(),
            max: MAX_ID_BYTES,
        });
    }
    if !printable_ascii(id)
        && let Some((at, control)) = id.char_indices().find(|(_, c)| c.is_control())
    {
        return Err(LimitError::IdControlCharacter {
            kind,
            id: shorten(id),
            code: u32::from(control),
            at,
        });
    }
    Ok(())
}

/// Whether `id` is printable ASCII only, so holds no control character:
/// the common case, told without decoding characters, eight bytes at a
/// time (see [`any_byte`]). Ids are checked on every store call.
fn printable_ascii(id: &str) -> bool {
    !any_byte(id.as_bytes(), unprintable_flags)
}

/// Sets the high bit of each byte of `word` outside `' '..='~'` (and maybe
/// of bytes above it): a byte below `' '` borrows into its high bit where
/// it was clear; a byte above `'~'` has its high bit set once 1 is added,
/// or already had it.
fn unprintable_flags(word: u64) -> u64 {
    (word.wrapping_sub(ONES * u64::from(b' ')) & !word) | word.wrapping_add(ONES) | word
}

/// Whether `text` holds a NUL byte, eight bytes at a time (see
/// [`any_byte`]), where `str::contains('\0')` sets up a character search
/// per call (the texts checked are short and many).
pub(crate) fn has_nul(text: &str) -> bool {
    any_byte(text.as_bytes(), nul_flags)
}

/// Sets the high bit of each zero byte of `word` (and maybe of bytes above
/// it): a zero byte borrows into its high bit where it was clear.
fn nul_flags(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word
}

/// `0x01` in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether `flag` sets the high bit of any byte of any word of `bytes`,
/// read as 8-byte words: a few instructions per 8 bytes and no early exit,
/// where a byte at a time costs a few per byte (ids and metadata texts are
/// mostly 10 to 40 bytes). The bytes past the last whole word are read as
/// the last 8 bytes (again in part); a text shorter than a word is padded
/// with spaces (0x20), which neither test flags. `flag` may also set bits at or
/// above a flagged byte (a borrow or a carry past it); only whether any is
/// set counts.
fn any_byte(bytes: &[u8], flag: fn(u64) -> u64) -> bool {
    let last = match bytes.last_chunk::<8>() {
        Some(last) => u64::from_le_bytes(*last),
        None => bytes
            .iter()
            .rev()
            .fold(0x2020_2020_2020_2020, |word, &byte| {
                word << 8 | u64::from(byte)
            }),
    };
    let flagged = bytes
        .as_chunks::<8>()
        .0
        .iter()
        .fold(flag(last), |flagged, word| {
            flagged | flag(u64::from_le_bytes(*word))
        });
    flagged & HIGHS != 0
}

/// Checks that `text`, kept as text outside JSON, holds no NUL character;
/// `what` names it in the error.
pub fn check_text(text: &str, what: impl FnOnce() -> String) -> Result<(), LimitError> {
    if has_nul(text) {
        return Err(LimitError::NulInText { what: what() });
    }
    Ok(())
}

/// `value` as an error message shows it: at most 64 bytes of it, with
/// control characters escaped (the escapes count towards the 64), then `…`
/// and the full length when it was cut.
///
/// ```
/// use orchestrix::limits::shorten;
///
/// assert_eq!(shorten("acc-1"), "acc-1");
/// assert_eq!(shorten("a\0b"), "a\\0b");
/// let shown = shorten(&"x".repeat(5000));
/// assert!(shown.starts_with("xxxx") && shown.ends_with("… (5000 bytes)"));
/// assert!(shown.len() < 100);
/// assert!(shorten(&"\u{e}".repeat(100)).len() < 100);
/// ```
pub fn shorten(value: &str) -> String {
    let mut shown = String::with_capacity(SHOWN_BYTES + 24);
    for c in value.chars() {
        let before = shown.len();
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
        if shown.len() > SHOWN_BYTES {
            shown.truncate(before);
            shown.push_str(&format!("… ({} bytes)", value.len()));
            return shown;
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time tests agree with a byte-at-a-time reading for
    /// every byte value, at every position of texts of 0 to 24 bytes
    /// (across word edges and padded tails), beside printable bytes on the
    /// borrow and carry edges (' ', '~') and between them ('a'). In texts of
    /// up to 9 bytes (padded, one word, one word and its re-read tail) a
    /// second byte from the edges of both tests sits at every other
    /// position: a bad byte beside another, or beside a good one it could
    /// borrow from or carry into. Borrows and carries stay inside a word, so
    /// longer texts add no new pair; they would make the test slow.
    #[test]
    fn word_tests_agree_with_each_byte() {
        const EDGES: [u8; 7] = [0x00, 0x1F, 0x20, 0x7E, 0x7F, 0x80, 0xFF];
        const PAIRED_LEN: usize = 9;
        let printable = |byte: &u8| (b' '..=b'~').contains(byte);
        // `nul` and `all_printable`: what a byte-at-a-time reading of the
        // changed bytes says (the fillers are printable, not NUL).
        let agree = |bytes: &[u8], nul: bool, all_printable: bool, case: &dyn Fn() -> String| {
            assert_eq!(any_byte(bytes, nul_flags), nul, "NUL: {}", case());
            assert_eq!(
                !any_byte(bytes, unprintable_flags),
                all_printable,
                "printable: {}",
                case()
            );
            if let Ok(text) = std::str::from_utf8(bytes) {
                assert_eq!(has_nul(text), nul, "has_nul: {}", case());
                assert_eq!(printable_ascii(text), all_printable, "{}", case());
            }
        };
        for filler in [b' ', b'a', b'~'] {
            assert!(filler != 0 && printable(&filler));
            for len in 1..=24 {
                let mut bytes = vec![filler; len];
                for at in 0..len {
                    for byte in 0..=u8::MAX {
                        bytes[at] = byte;
                        let case = || format!("{byte:#x} at {at} of {len}, filler {filler:#x}");
                        agree(&bytes, byte == 0, printable(&byte), &case);
                        let others = if len <= PAIRED_LEN { 0..len } else { 0..0 };
                        for other in others.filter(|&other| other != at) {
                            for edge in EDGES {
                                bytes[other] = edge;
                                let nul = byte == 0 || edge == 0;
                                let all_printable = printable(&byte) && printable(&edge);
                                let case = || format!("{}, {edge:#x} at {other}", case());
                                agree(&bytes, nul, all_printable, &case);
                            }
                            bytes[other] = filler;
                        }
                    }
                    bytes[at] = filler;
                }
            }
        }
        assert!(!has_nul("") && printable_ascii(""));
    }

    #[test]
    fn accepts_real_ids_up_to_the_limit() {
        for id in [
            "a",
            "ACC-001",
            "3f2b0c1e-8a57-4a53-9d0e-0d4c1f1e2a11",
            "tenant/7:order#42",
            "Ünïcødé-流",
            " spaces are fine ",
        ] {
            assert_eq!(check_id(IdKind::Stream, id), Ok(()), "{id}");
        }
        let longest = "é".repeat(MAX_ID_BYTES / 2);
        assert_eq!(check_id(IdKind::Saga, &longest), Ok(()));
    }

    #[test]
    fn refuses_long_ids_naming_the_rule_with_a_short_id() {
        let id = "é".repeat(MAX_ID_BYTES / 2 + 1);
        let error = check_id(IdKind::Saga, &id).expect_err("too long");
        assert!(
            matches!(&error, LimitError::IdTooLong { kind: IdKind::Saga, len, max: MAX_ID_BYTES, .. } if *len == id.len()),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("saga id") && text.contains("at most 1024 bytes"),
            "{text}"
        );
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn refuses_control_characters_anywhere() {
        for (id, code, at) in [
            ("\0", 0, 0),
            ("a\nb", 10, 1),
            ("ab\u{7f}", 0x7f, 2),
            ("é\u{85}", 0x85, 2),
            // Past the first 16 bytes, and at the edges of printable ASCII.
            ("0123456789abcdefghij\u{1f}", 0x1f, 20),
            (" ~\u{7f}", 0x7f, 2),
        ] {
            let error = check_id(IdKind::Projection, id).expect_err(id);
            assert_eq!(
                error,
                LimitError::IdControlCharacter {
                    kind: IdKind::Projection,
                    id: shorten(id),
                    code,
                    at
                }
            );
            assert!(!error.to_string().contains('\0'));
        }
    }

    #[test]
    fn printable_and_non_control_ids_are_accepted() {
        for id in [
            " ",
            "~",
            "order 7 ~ a/b#c",
            &"x".repeat(MAX_ID_BYTES),
            "流-é-\u{a0}",
        ] {
            assert_eq!(check_id(IdKind::Saga, id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn shorten_bounds_the_shown_text_escapes_included() {
        let id = "\u{e}".repeat(100);
        let shown = shorten(&id);
        assert!(shown.len() <= SHOWN_BYTES + 16, "{shown}");
        assert!(shown.ends_with("… (100 bytes)"), "{shown}");
        assert_eq!(shorten(&"\u{e}".repeat(10)), "\\u{e}".repeat(10));
    }

    #[test]
    fn shorten_shows_a_text_of_the_shown_length_whole() {
        let whole = "x".repeat(SHOWN_BYTES);
        assert_eq!(shorten(&whole), whole);
        let longer = "x".repeat(SHOWN_BYTES + 1);
        assert_eq!(
            shorten(&longer),
            format!("{whole}… ({} bytes)", SHOWN_BYTES + 1)
        );
    }

    #[test]
    fn shorten_cuts_at_a_character_boundary() {
        let value = format!("{}流流", "a".repeat(SHOWN_BYTES - 1));
        let shown = shorten(&value);
        assert!(shown.starts_with(&"a".repeat(SHOWN_BYTES - 1)));
        assert!(
            shown.ends_with(&format!("… ({} bytes)", value.len())),
            "{shown}"
        );
    }

    #[test]
    fn text_with_nul_is_refused() {
        assert_eq!(check_text("fine\ttext", || "x".into()), Ok(()));
        assert_eq!(
            check_text("a\0", || "the saga type".into()),
            Err(LimitError::NulInText {
                what: "the saga type".into()
            })
        );
    }
}
