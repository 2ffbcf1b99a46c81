-- The event's load record: everything a stream load needs besides the
-- payload (version, position, event type, schema version and the compact
-- context, sealed by a checksum) in one BLOB, in the binary form of
-- orchestrix/src/store/context/record.rs, so a load reads two values per
-- row instead of six. Appends write it instead of the context column.
-- Rows written before it (or by programs that predate it) have none and
-- load from their other columns, so nothing is rewritten here.
ALTER TABLE events ADD COLUMN load_record BLOB;

-- The record repeats columns that stay the truth for SQL, so an update of
-- any of them (a fix by hand) drops it, unless the update writes a new
-- record itself (a rewrite to the current schema does): no record ever
-- disagrees with its row.
--
-- The row's head changed, its context not: the context moves to the
-- context column (the record's bytes between its first byte and the
-- schema version are the compact context's, after its first byte; what
-- follows is 4 bytes of schema version, 4 of the type's length, the type
-- as the record holds it, the row's old one, 4 of checksum, 24 of
-- version, position and their check).
CREATE TRIGGER events_load_record_follows_columns
AFTER UPDATE OF stream_id, version, position, event_type, schema_version ON events
FOR EACH ROW WHEN NEW.load_record IS NOT NULL AND NEW.load_record IS OLD.load_record
    AND NEW.metadata IS OLD.metadata AND NEW.recorded_at IS OLD.recorded_at
    AND NEW.event_id IS OLD.event_id AND NEW.correlation_id IS OLD.correlation_id
    AND NEW.causation_id IS OLD.causation_id AND NEW.context IS OLD.context
BEGIN
    UPDATE events SET
        context = coalesce(NEW.context, CAST(x'01' || substr(NEW.load_record, 2,
            length(NEW.load_record) - 37 - length(CAST(OLD.event_type AS BLOB))) AS BLOB)),
        load_record = NULL
    WHERE position = NEW.position;
END;

-- What the context holds changed (the metadata JSON, recorded_at, the ids,
-- or the context column itself): the record is dropped and the columns
-- are the truth again, the context column if it was set, else
-- recorded_at and the metadata JSON.
CREATE TRIGGER events_load_record_follows_context
AFTER UPDATE OF metadata, recorded_at, event_id, correlation_id, causation_id, context ON events
FOR EACH ROW WHEN NEW.load_record IS NOT NULL AND NEW.load_record IS OLD.load_record
BEGIN
    UPDATE events SET load_record = NULL WHERE position = NEW.position;
END;
