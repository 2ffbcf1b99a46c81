//! The store limits on arbitrary input: the id rules and `shorten` never
//! panic and keep errors short; the JSON check on text never lets through what the
//! check on values refuses, and what passes them reads back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrix::limits::{self, IdKind};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let shown = limits::shorten(text);
        assert!(shown.len() <= 64 + 32, "{shown}");
        if let Err(error) = limits::check_id(IdKind::Stream, text) {
            assert!(error.to_string().len() < 400);
        }
    }
    let text_verdict = limits::check_json_text(data, String::new);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let value_verdict = limits::check_json(&value, String::new);
    // The text check never lets through what the value check refuses (it
    // may refuse more: a duplicate key's overwritten value still counts).
    if text_verdict.is_ok() {
        assert!(
            value_verdict.is_ok(),
            "text passes, value {value_verdict:?}"
        );
    }
    if value_verdict.is_ok() {
        let written = serde_json::to_vec(&value).expect("a value serializes");
        let back: serde_json::Value =
            serde_json::from_slice(&written).expect("what passes the limits reads back");
        assert_eq!(back, value);
    }
});
