//! Rewriting stored events to their current schema versions in place, so
//! old upcasters can be deleted later.

/// How a rewrite runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewriteOptions {
    /// Rows read (and rewritten) per transaction.
    pub batch_size: usize,
    /// Resume after this position (the `last_position` of an interrupted
    /// run; 0 to start at the beginning).
    pub after_position: u64,
    /// Count what would change, write nothing.
    pub dry_run: bool,
}

impl Default for RewriteOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            after_position: 0,
            dry_run: false,
        }
    }
}

/// What a rewrite did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// Rows looked at.
    pub scanned: u64,
    /// Rows rewritten to their current name and version (in a dry run: that
    /// would be).
    pub rewritten: u64,
    /// Old rows a split or drop reads as other than one event: left as they
    /// are (their upcaster must stay).
    pub kept_split: u64,
    /// The last position looked at: pass it as `after_position` to resume.
    pub last_position: u64,
}

/// What the rewrite does with one stored row.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) enum RowRewrite {
    /// Current name and version, or a type this program does not know:
    /// left alone.
    Keep,
    /// A split or drop: left alone, counted.
    Split,
    /// The row's current form.
    Rewrite {
        event_type: &'static str,
        schema_version: u32,
        payload: String,
    },
}

/// Decides the rewrite of the row stored as `event_type` at
/// `schema_version`, through the same upcasters reads use. The error names
/// the row like a read's.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn rewrite_row(
    registry: &crate::registry::EventRegistry,
    row: &RawRow<'_>,
) -> Result<RowRewrite, crate::store::StoreError> {
    use crate::store::StoreError;
    let Some(registration) = registry.get(row.event_type) else {
        return Ok(RowRewrite::Keep);
    };
    if registration.name == row.event_type && registration.version == row.schema_version {
        return Ok(RowRewrite::Keep);
    }
    let decoded = registration
        .decode_stored(row.event_type, row.schema_version, row.payload.as_bytes())
        .map_err(|source| StoreError::Decode {
            stream_id: row.stream_id.to_owned(),
            version: row.version,
            position: Some(row.position),
            event_type: row.event_type.to_owned(),
            source,
        })?;
    let Ok(message) = decoded.into_single() else {
        return Ok(RowRewrite::Split);
    };
    let payload = message
        .to_json_bytes()
        .map_err(|source| StoreError::Serialize {
            stream_id: row.stream_id.to_owned(),
            event_type: row.event_type.to_owned(),
            source,
        })?;
    Ok(RowRewrite::Rewrite {
        event_type: message.message_name(),
        schema_version: message.message_version(),
        payload: String::from_utf8_lossy(&payload).into_owned(),
    })
}

/// One stored row as the rewrite reads it.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) struct RawRow<'a> {
    pub(crate) position: u64,
    pub(crate) stream_id: &'a str,
    pub(crate) version: u64,
    pub(crate) event_type: &'a str,
    pub(crate) schema_version: u32,
    pub(crate) payload: &'a str,
}
