-- tokwatch schema, version 4: the dashboard's session page reads one session's requests in time
-- order (`store::dashboard`); without this index that is a pass over every stored request.
CREATE INDEX events_session_ts ON events(session, ts);
