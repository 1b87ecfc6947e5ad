-- Stateless MCP tools/call over Streamable HTTP (no session: the gateway and the upstream both allow it).
-- result.lua prints the RESULT line that run.sh parses.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
