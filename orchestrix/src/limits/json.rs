//! The JSON rules: how deep values nest, no NUL in strings, no NaN or
//! infinite floats.

use std::cell::Cell;
use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use super::LimitError;
use super::finite::FiniteSerializer;

/// The deepest nesting of JSON arrays and objects a store accepts in one
/// value (an event payload, a snapshot state, a saga's data or a step's
/// output; `[]` is one level, `[[1]]` two).
///
/// serde_json stops decoding at 128 levels to protect the stack, so a value
/// nested deeper could be written but never read back. 64 leaves room for
/// the documents stores wrap values in (a saga's step list holds each
/// step's output two levels down) and is far beyond what real data needs.
pub const MAX_JSON_DEPTH: usize = 64;

/// Why a value cannot be stored as JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonCheckError {
    /// It breaks a [limit](super): too deep, a NUL in a string, or a NaN
    /// or infinite float.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// It does not serialize to JSON at all (e.g. a map with non-string
    /// keys).
    #[error(transparent)]
    Serialize(serde_json::Error),
}

/// The first limit a value breaks.
#[derive(Clone, Copy)]
pub(super) enum Problem {
    TooDeep,
    Nul,
    NonFinite,
}

impl Problem {
    fn into_error(self, what: String) -> LimitError {
        match self {
            Self::TooDeep => LimitError::JsonTooDeep {
                what,
                max: MAX_JSON_DEPTH,
            },
            Self::Nul => LimitError::NulInJson { what },
            Self::NonFinite => LimitError::NonFiniteFloat { what },
        }
    }
}

/// Checks that `value` serializes to JSON that every store keeps and reads
/// back: at most [`MAX_JSON_DEPTH`] levels, no NUL in any string or key,
/// no NaN or infinite `f32`/`f64` (serde_json would write it as `null`,
/// which does not decode back into the float). `what` names the value in
/// the error.
///
/// The value is serialized into nothing (no allocation) and the
/// serialization stops at the first problem, so even a value nested
/// millions of levels deep is refused without exhausting the stack.
///
/// ```
/// use orchestrix::limits::{JsonCheckError, LimitError, MAX_JSON_DEPTH, check_json};
/// use serde_json::json;
///
/// assert!(check_json(&json!({"a": [1, 2, {"b": "c"}]}), || "state".into()).is_ok());
///
/// let mut deep = json!(1);
/// for _ in 0..=MAX_JSON_DEPTH {
///     deep = json!([deep]);
/// }
/// let error = check_json(&deep, || "the state".into()).unwrap_err();
/// assert!(matches!(error, JsonCheckError::Limit(LimitError::JsonTooDeep { .. })));
/// assert!(check_json(&json!({"name": "a\u{0}b"}), || "state".into()).is_err());
/// let error = check_json(&[1.0, f64::NAN], || "the reading".into()).unwrap_err();
/// assert!(matches!(error, JsonCheckError::Limit(LimitError::NonFiniteFloat { .. })));
/// ```
pub fn check_json<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<(), JsonCheckError> {
    write_checked_json(io::sink(), value, what)
}

/// `value` as compact JSON text, checked as [`check_json`] checks it, in
/// one pass: for the stores that keep the text (the check and the
/// serialization are one walk over the value, not two).
pub(crate) fn to_checked_json<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>, JsonCheckError> {
    let mut json = Vec::with_capacity(128);
    write_checked_json(&mut json, value, what)?;
    Ok(json)
}

/// Serializes `value` into `writer` through the checking formatter,
/// stopping at the first broken limit.
fn write_checked_json<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<(), JsonCheckError> {
    let problem = Cell::new(None);
    let checker = Checker {
        depth: 0,
        problem: &problem,
    };
    let mut serializer = serde_json::Serializer::with_formatter(writer, checker);
    let serializer = FiniteSerializer {
        inner: &mut serializer,
        problem: &problem,
    };
    match value.serialize(serializer) {
        Ok(()) => Ok(()),
        Err(error) => match problem.get() {
            Some(problem) => Err(problem.into_error(what()).into()),
            None => Err(JsonCheckError::Serialize(error)),
        },
    }
}

/// `value` as a [`serde_json::Value`], like [`serde_json::to_value`], but
/// a NaN or infinite float is an error instead of a silent `null` (which
/// would not decode back into the float). For the values the framework
/// turns into JSON itself: snapshot states, saga data, step outputs.
pub(crate) fn to_json_value<T: Serialize + ?Sized>(
    value: &T,
) -> Result<serde_json::Value, serde_json::Error> {
    let problem = Cell::new(None);
    value.serialize(FiniteSerializer {
        inner: serde_json::value::Serializer,
        problem: &problem,
    })
}

/// As [`check_json`], for a value already serialized to JSON text (read
/// without recursion, so any input is safe). Only the limits are checked,
/// not that `json` is well-formed.
///
/// ```
/// use orchestrix::limits::check_json_text;
///
/// assert!(check_json_text(br#"{"a":"[[["}"#, || "payload".into()).is_ok());
/// assert!(check_json_text(&[b'['; 65], || "payload".into()).is_err());
/// assert!(check_json_text(br#"["\u0000"]"#, || "payload".into()).is_err());
/// ```
pub fn check_json_text(json: &[u8], what: impl FnOnce() -> String) -> Result<(), LimitError> {
    match scan(json, 0) {
        Some(problem) => Err(problem.into_error(what())),
        None => Ok(()),
    }
}

/// Walks JSON text from nesting level `depth`, without recursion.
fn scan(json: &[u8], mut depth: usize) -> Option<Problem> {
    let mut in_string = false;
    let mut escaped = false;
    for (index, &byte) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
                if byte == b'u' && json.get(index + 1..index + 5) == Some(b"0000") {
                    return Some(Problem::Nul);
                }
            } else {
                match byte {
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    0 => return Some(Problem::Nul),
                    _ => {}
                }
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Some(Problem::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A serde_json formatter that writes compact JSON and fails (with an I/O
/// error the caller recognises by `problem`) at the first limit broken.
struct Checker<'a> {
    depth: usize,
    problem: &'a Cell<Option<Problem>>,
}

impl Checker<'_> {
    fn fail(&self, problem: Problem) -> io::Error {
        self.problem.set(Some(problem));
        io::Error::other("a storage limit is broken")
    }

    fn enter(&mut self) -> io::Result<()> {
        self.depth += 1;
        if self.depth > MAX_JSON_DEPTH {
            return Err(self.fail(Problem::TooDeep));
        }
        Ok(())
    }
}

impl Formatter for Checker<'_> {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter()?;
        CompactFormatter.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        CompactFormatter.end_array(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter()?;
        CompactFormatter.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        CompactFormatter.end_object(writer)
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        if matches!(char_escape, CharEscape::AsciiControl(0)) {
            return Err(self.fail(Problem::Nul));
        }
        CompactFormatter.write_char_escape(writer, char_escape)
    }

    fn write_raw_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if let Some(problem) = scan(fragment.as_bytes(), self.depth) {
            return Err(self.fail(problem));
        }
        CompactFormatter.write_raw_fragment(writer, fragment)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Value, json};

    use super::*;

    fn nested(levels: usize) -> Value {
        let mut value = json!("leaf");
        for level in 0..levels {
            value = if level % 2 == 0 {
                json!([value])
            } else {
                json!({ "k": value })
            };
        }
        value
    }

    #[test]
    fn accepts_up_to_the_limit_and_refuses_one_more() {
        assert!(check_json(&nested(MAX_JSON_DEPTH), String::new).is_ok());
        let error = check_json(&nested(MAX_JSON_DEPTH + 1), || "it".into()).expect_err("deep");
        assert!(
            matches!(error, JsonCheckError::Limit(LimitError::JsonTooDeep { ref what, max: MAX_JSON_DEPTH }) if what == "it"),
            "{error:?}"
        );
        let text = serde_json::to_vec(&nested(MAX_JSON_DEPTH)).expect("serializes");
        assert!(check_json_text(&text, String::new).is_ok());
        let text = serde_json::to_vec(&nested(MAX_JSON_DEPTH + 1)).expect("serializes");
        assert!(check_json_text(&text, String::new).is_err());
    }

    #[test]
    fn what_is_accepted_decodes() {
        let text = serde_json::to_string(&nested(MAX_JSON_DEPTH)).expect("serializes");
        let back: Value = serde_json::from_str(&text).expect("decodes within serde_json's limit");
        assert_eq!(back, nested(MAX_JSON_DEPTH));
    }

    #[test]
    fn nul_in_strings_and_keys_is_refused_other_controls_are_not() {
        assert!(check_json(&json!(["tab\t", "bell\u{7}"]), String::new).is_ok());
        for value in [json!("a\u{0}"), json!({ "k\u{0}": 1 })] {
            let error = check_json(&value, || "v".into()).expect_err("nul");
            assert!(
                matches!(error, JsonCheckError::Limit(LimitError::NulInJson { .. })),
                "{error:?}"
            );
        }
        assert!(check_json_text(b"[\"\\\\u0000\"]", String::new).is_ok());
    }

    #[test]
    fn non_finite_floats_are_refused_wherever_they_are() {
        #[derive(Serialize)]
        enum Reading {
            Single(f32),
            Pair(f64, f64),
            Named { value: f64 },
        }
        #[derive(Serialize)]
        struct Probe {
            label: String,
            reading: Option<Reading>,
            list: Vec<f64>,
            map: std::collections::BTreeMap<String, f32>,
            tuple: (u8, f64),
        }
        let probe = |reading: Option<Reading>, list: Vec<f64>, value: f32, second: f64| Probe {
            label: "p".into(),
            reading,
            list,
            map: [("k".to_string(), value)].into(),
            tuple: (1, second),
        };
        let fine = probe(
            Some(Reading::Pair(f64::MAX, -0.0)),
            vec![f64::MIN_POSITIVE, 1e300],
            f32::MAX,
            f64::EPSILON,
        );
        assert!(check_json(&fine, String::new).is_ok());
        assert!(check_json(&probe(None, Vec::new(), 1.0, 2.0), String::new).is_ok());
        let refused = [
            probe(Some(Reading::Single(f32::NAN)), Vec::new(), 1.0, 2.0),
            probe(
                Some(Reading::Pair(1.0, f64::INFINITY)),
                Vec::new(),
                1.0,
                2.0,
            ),
            probe(
                Some(Reading::Named {
                    value: f64::NEG_INFINITY,
                }),
                Vec::new(),
                1.0,
                2.0,
            ),
            probe(None, vec![1.0, f64::NAN], 1.0, 2.0),
            probe(None, Vec::new(), f32::INFINITY, 2.0),
            probe(None, Vec::new(), 1.0, f64::NAN),
        ];
        for (index, value) in refused.iter().enumerate() {
            let error = check_json(value, || "the probe".into()).expect_err("non-finite");
            assert!(
                matches!(&error, JsonCheckError::Limit(LimitError::NonFiniteFloat { what }) if what == "the probe"),
                "case {index}: {error:?}"
            );
            assert!(error.to_string().contains("Option"), "{error}");
        }
        // Bare floats, and the first problem wins.
        assert!(check_json(&f64::NAN, String::new).is_err());
        assert!(check_json(&Some(f32::NEG_INFINITY), String::new).is_err());
        let nul_first = ("a\u{0}", f64::NAN);
        assert!(matches!(
            check_json(&nul_first, String::new),
            Err(JsonCheckError::Limit(LimitError::NulInJson { .. }))
        ));
    }

    #[test]
    fn what_serde_json_would_write_as_null_does_not_read_back() {
        // Why the check exists: the NaN becomes `null`, which is no f64.
        let text = serde_json::to_string(&[f64::NAN]).expect("serde_json writes it");
        assert_eq!(text, "[null]");
        assert!(serde_json::from_str::<[f64; 1]>(&text).is_err());
    }

    #[test]
    fn a_deep_value_of_floats_stops_at_the_depth_limit() {
        #[derive(Serialize)]
        struct Level(f64, Vec<Level>);
        let mut level = Level(f64::NAN, Vec::new());
        for _ in 0..100_000 {
            level = Level(1.0, vec![level]);
        }
        assert!(matches!(
            check_json(&level, String::new),
            Err(JsonCheckError::Limit(LimitError::JsonTooDeep { .. }))
        ));
        let mut next = Some(level);
        while let Some(Level(_, mut inner)) = next.take() {
            next = inner.pop();
        }
    }

    #[test]
    fn to_json_value_refuses_what_to_value_would_write_as_null() {
        #[derive(Serialize)]
        struct Reading {
            label: &'static str,
            values: Vec<f64>,
        }
        let fine = Reading {
            label: "ok",
            values: vec![1.5, -0.25],
        };
        assert_eq!(
            to_json_value(&fine).expect("finite"),
            serde_json::to_value(&fine).expect("serializes")
        );
        let bad = Reading {
            label: "bad",
            values: vec![1.5, f64::NAN],
        };
        assert_eq!(
            serde_json::to_value(&bad).expect("serde_json writes null"),
            json!({ "label": "bad", "values": [1.5, null] })
        );
        let error = to_json_value(&bad).expect_err("NaN is refused");
        assert!(error.to_string().contains("NaN or infinite"), "{error}");
        assert!(to_json_value(&Some(f32::INFINITY)).is_err());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!("[\"{}\"]", "[".repeat(500));
        assert!(check_json_text(text.as_bytes(), String::new).is_ok());
    }

    #[test]
    fn raw_fragments_are_checked_too() {
        let raw = serde_json::value::RawValue::from_string("[".repeat(70) + &"]".repeat(70))
            .expect("valid JSON");
        assert!(check_json(&raw, String::new).is_err());
    }

    #[test]
    fn values_that_do_not_serialize_say_so() {
        let map: HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            check_json(&map, String::new),
            Err(JsonCheckError::Serialize(_))
        ));
    }

    #[test]
    fn a_very_deep_value_does_not_exhaust_the_stack() {
        // A recursive value serialized without a limit would overflow the
        // stack; the check stops at the 65th level.
        #[derive(Serialize)]
        struct Level(Vec<Level>);
        let mut level = Level(Vec::new());
        for _ in 0..100_000 {
            level = Level(vec![level]);
        }
        assert!(check_json(&level, String::new).is_err());
        // Dropping them recursively would overflow too: unwind by hand.
        let mut next = Some(level);
        while let Some(Level(mut inner)) = next.take() {
            next = inner.pop();
        }
    }
}
