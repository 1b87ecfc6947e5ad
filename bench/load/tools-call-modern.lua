-- The same stateless tools/call as tools-call.lua, as an MCP 2026-07-28 client sends it: the _meta envelope in the body
-- and the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers. run.sh sends it to the gateway only (MODERN=1).
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}},"name":"echo","arguments":{"message":"hi"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
