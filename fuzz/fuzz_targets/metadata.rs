//! Parsing CloudEvents metadata as stores and transports read it. Nothing
//! may panic; metadata that parses round-trips to equal metadata and stays
//! within the write-time limits unless it holds a NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrix::limits;
use orchestrix::message::Metadata;

fuzz_target!(|data: &[u8]| {
    let Ok(metadata) = serde_json::from_slice::<Metadata>(data) else {
        return;
    };
    let text = serde_json::to_string(&metadata).expect("metadata serializes");
    let back: Metadata = serde_json::from_str(&text).expect("what is written reads back");
    assert_eq!(back, metadata);
    let value = serde_json::to_value(&metadata).expect("metadata serializes");
    let object = value.as_object().expect("metadata is an object");
    assert!(
        object.keys().all(|k| k
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
        "CloudEvents attribute names: {text}"
    );
    if limits::check_json(&metadata, String::new).is_ok() {
        assert!(!text.contains("\\u0000"));
    }
});
