-- The event's context in one column: its CloudEvents metadata and the time
-- the store accepted it, in a compact binary form (see
-- orchestrix/src/store/context.rs) that a stream load reads instead of the
-- metadata JSON and recorded_at. The other columns stay as they are, for
-- SQL, raw reads and programs that predate this column. Rows written before
-- it (or by such programs) have no context: a load decodes their metadata
-- and recorded_at columns instead, so nothing is rewritten here.
ALTER TABLE events ADD COLUMN context BLOB;
