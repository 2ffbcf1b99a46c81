//! SQL identifiers checked before they go anywhere near a statement.

use std::fmt;

use super::PostgresError;

/// A schema or table name that is safe to put into SQL text.
///
/// Only lower-case ASCII letters, digits and `_` are accepted, starting with
/// a letter or `_`, at most 63 bytes (PostgreSQL's limit), and not starting
/// with `pg_` (reserved for the system). Such a name means the same thing
/// quoted and unquoted, and it can never close a quote or start another
/// statement. [`quoted`](Self::quoted) gives it in double quotes anyway.
///
/// ```
/// use orchestrix::postgres::SqlIdentifier;
///
/// let schema = SqlIdentifier::new("orchestrix_events").expect("a valid name");
/// assert_eq!(schema.quoted(), "\"orchestrix_events\"");
/// assert!(SqlIdentifier::new("events; DROP TABLE users").is_err());
/// assert!(SqlIdentifier::new("Events").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SqlIdentifier(String);

/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_LEN: usize = 63;

impl SqlIdentifier {
    /// Checks `name` and keeps it.
    pub fn new(name: impl Into<String>) -> Result<Self, PostgresError> {
        let name = name.into();
        match problem(&name) {
            None => Ok(Self(name)),
            Some(reason) => Err(PostgresError::Configuration(format!(
                "`{name}` is not usable as an SQL identifier: {reason}"
            ))),
        }
    }

    /// A name known to be valid at compile time (checked by a unit test).
    pub(crate) fn trusted(name: &'static str) -> Self {
        debug_assert!(problem(name).is_none(), "{name}");
        Self(name.to_owned())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name in double quotes, ready for SQL text.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

fn problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Some("it is empty");
    };
    if name.len() > MAX_LEN {
        return Some("it is longer than 63 bytes");
    }
    if !(first.is_ascii_lowercase() || first == '_') {
        return Some("it must start with a lower-case letter or `_`");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Some("only lower-case letters, digits and `_` are allowed");
    }
    if name.starts_with("pg_") {
        return Some("names starting with `pg_` are reserved by PostgreSQL");
    }
    None
}

impl fmt::Display for SqlIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SqlIdentifier {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for name in ["orchestrix", "_x", "events_2", "a"] {
            assert!(SqlIdentifier::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_anything_that_needs_quoting() {
        let long = "a".repeat(64);
        for name in [
            "",
            "1abc",
            "Abc",
            "a-b",
            "a b",
            "a\"b",
            "a;b",
            "pg_catalog",
            "é",
            long.as_str(),
        ] {
            let error = SqlIdentifier::new(name).expect_err(name);
            assert!(matches!(error, PostgresError::Configuration(_)), "{name}");
        }
    }

    #[test]
    fn the_empty_name_says_why() {
        let text = SqlIdentifier::new("").expect_err("empty").to_string();
        assert!(
            text.contains("is not usable as an SQL identifier"),
            "{text}"
        );
    }
}
