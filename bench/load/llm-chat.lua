-- One small non-streamed OpenAI chat completion (or the body in LLM_BODY). Extra request headers (the gateway's virtual key, portkey's
-- provider and custom host) come from LLM_HEADERS: "Name: value" pairs separated by "|".
-- result.lua prints the RESULT line.
wrk.method = "POST"
wrk.body = os.getenv("LLM_BODY") or '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
for pair in string.gmatch(os.getenv("LLM_HEADERS") or "", "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
