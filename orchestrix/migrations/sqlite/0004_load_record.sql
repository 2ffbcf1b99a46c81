-- The event's load record: everything a stream load needs besides the
-- payload (version, position, event type, schema version and the compact
-- context, sealed by a checksum) in one BLOB, in the binary form of
-- orchestrix/src/store/context/record.rs, so a load reads two values per
-- row instead of six. Appends write it instead of the context column.
-- Rows written before it (or by programs that predate it) have none and
-- load from their other columns, so nothing is rewritten here.
ALTER TABLE events ADD COLUMN load_record BLOB;

-- The record repeats columns that stay the truth for SQL. A row whose
-- columns are updated (a rewrite to the current schema, a fix by hand)
-- goes back to the older form: its context moves to the context column
-- (the record's bytes between its first byte and the schema version are
-- the compact context's, after its first byte; after them come 4 bytes of
-- schema version, 4 of the type's length, the type, 4 of checksum and 24
-- of version, position and their check) and the record is dropped,
-- so no record ever disagrees with its row.
CREATE TRIGGER events_load_record_follows_columns
AFTER UPDATE OF stream_id, version, position, event_type, schema_version ON events
FOR EACH ROW WHEN NEW.load_record IS NOT NULL
BEGIN
    UPDATE events SET
        context = coalesce(NEW.context, CAST(x'01' || substr(NEW.load_record, 2,
            length(NEW.load_record) - 37 - length(CAST(OLD.event_type AS BLOB))) AS BLOB)),
        load_record = NULL
    WHERE position = NEW.position;
END;
