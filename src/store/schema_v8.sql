-- tokwatch schema, version 8 (issue 14): context composition.
--
-- Per request, what its input was made of: estimated tokens per kind of content (a tool result
-- per tool name), adding up to the request's input total; NULL when unknown (a tool whose log
-- holds no messages, or a chain that starts in another file). Numbers and tool names only,
-- never text (`Composition::encode`: `s=25793;u=8;r.Read=1120`). Pruning removes it with the
-- rest of the request's detail.

ALTER TABLE events ADD COLUMN ctx TEXT;
