// A minimal OpenAI-compatible chat completions upstream in the documented wire format for the NativeAOT smoke test (scripts/aot-smoke.sh):
// node fake-openai.mjs PORT. Plain answers, SSE streams (with the usage chunk only when asked for), and a tool
// call when the model is named "call:TOOL". Only the key sk-smoke is accepted.
import http from 'node:http';

const port = Number(process.argv[2]);
const usage = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
      return;
    }
    if (req.headers.authorization !== 'Bearer sk-smoke') {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } }));
      return;
    }
    const request = JSON.parse(body);
    const base = { id: 'chatcmpl-smoke', created: 1700000000, model: request.model };
    if (request.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // OpenAI API reference, Chat Completions › chunk object and stream_options: with include_usage every chunk has
      // "usage": null and one last chunk with "choices": [] has the usage; obfuscation (on by default) follows usage.
      const withUsage = request.stream_options?.include_usage === true;
      const send = (choices, usageValue = null) =>
        res.write(`data: ${JSON.stringify({
          ...base, object: 'chat.completion.chunk', choices,
          ...(withUsage ? { usage: usageValue } : {}), obfuscation: 'k9',
        })}\n\n`);
      send([{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }]);
      send([{ index: 0, delta: { content: ' from AOT' }, finish_reason: null }]);
      send([{ index: 0, delta: {}, finish_reason: 'stop' }]);
      if (withUsage) {
        send([], usage);
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    const tool = request.model.startsWith('call:') ? request.model.slice(5) : null;
    const message = tool
      ? { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: tool, arguments: '{"to":"someone@example.com"}' } }] }
      : { role: 'assistant', content: 'Hello from AOT' };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: tool ? 'tool_calls' : 'stop' }], usage }));
  });
}).listen(port, '127.0.0.1');
