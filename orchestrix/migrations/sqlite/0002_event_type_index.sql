-- Reading the global stream for a few event types (projections) walks this
-- index instead of every event.
CREATE INDEX events_event_type_position ON events (event_type, position);
