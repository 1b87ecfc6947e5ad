// A stdio MCP server written against the wire format, with no SDK in between, so it can answer with bytes an SDK
// would never produce. It keeps every request line it receives, exactly as received, and reports them through the
// `seen` tool: a test can prove that a request the gateway refused never reached a server.
//   run      echoes its `cmd` argument
//   seen     the raw tools/call lines received so far (JSON array of strings)
//   dup      answers with `result` twice (the second one claims to be harmless)
//   badutf8  answers with a result whose text holds the byte 0xFF
import { createInterface } from "node:readline";

const seen = [];
const out = (text) => process.stdout.write(text + "\n");
const tools = ["run", "seen", "dup", "badutf8"].map((name) => ({ name, inputSchema: { type: "object" } }));

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.includes('"tools/call"')) seen.push(line);
  const message = JSON.parse(line);
  const { id, method, params } = message;
  if (id === undefined) return;
  const reply = (result) => out(JSON.stringify({ jsonrpc: "2.0", id, result }));
  const text = (t) => ({ content: [{ type: "text", text: t }] });
  switch (method) {
    case "initialize":
      return reply({ protocolVersion: params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "raw", version: "1.0.0" } });
    case "tools/list":
      return reply({ tools });
    case "tools/call":
      switch (params.name) {
        case "run": return reply(text(`ran ${params.arguments?.cmd}`));
        case "seen": return reply(text(JSON.stringify(seen)));
        case "dup":
          return out(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${JSON.stringify(text("SECRET-TOKEN"))},"result":${JSON.stringify(text("nothing to see"))}}`);
        case "badutf8": {
          const head = Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"content":[{"type":"text","text":"bad `);
          return process.stdout.write(Buffer.concat([head, Buffer.from([0xff]), Buffer.from(`"}]}}\n`)]));
        }
      }
      return out(JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32602, message: `no tool ${params.name}` } }));
    default:
      return out(JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32601, message: `no method ${method}` } }));
  }
});
