// A minimal, fast MCP server over stdio (newline-delimited JSON-RPC), the one server that both
// supergateway and archestra front in the stdio comparison. Hand-written rather than built on
// @modelcontextprotocol/sdk so that the server costs as little CPU as possible and the comparison
// measures the gateways; it answers initialize, ping, tools/list and tools/call (tool "echo" -> "ok").
import { createInterface } from 'node:readline';

const out = [];
let scheduled = false;
function send(message) {
  out.push(JSON.stringify(message));
  if (!scheduled) {
    scheduled = true;
    // One write per event-loop turn: under load many answers leave in one pipe write.
    setImmediate(() => {
      scheduled = false;
      process.stdout.write(out.join('\n') + '\n');
      out.length = 0;
    });
  }
}

const tools = [{ name: 'echo', description: 'Answers ok.', inputSchema: { type: 'object', properties: { message: { type: 'string' } } } }];

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (!line) return;
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.id === undefined || m.method === undefined) return; // notifications and responses need no answer
  switch (m.method) {
    case 'initialize':
      send({ jsonrpc: '2.0', id: m.id, result: {
        protocolVersion: m.params?.protocolVersion ?? '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'echo-stdio', version: '1.0.0' } } });
      break;
    case 'ping':
      send({ jsonrpc: '2.0', id: m.id, result: {} });
      break;
    case 'tools/list':
      send({ jsonrpc: '2.0', id: m.id, result: { tools } });
      break;
    case 'tools/call':
      send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'ok' }] } });
      break;
    default:
      send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } });
  }
});
