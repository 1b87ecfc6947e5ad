// Upstreams that send more than the gateway may keep, for bench/memory/run.sh.
//   node huge-server.mjs http PORT MIB   Streamable HTTP server whose tool "huge" answers with MIB MiB, chunked
//   node huge-server.mjs stdio MIB       stdio server whose tool "flood" writes MIB MiB to stderr without a newline
import http from "node:http";
import readline from "node:readline";

const [mode, ...rest] = process.argv.slice(2);
const initializeResult = (params) => ({
  protocolVersion: params?.protocolVersion ?? "2025-06-18",
  capabilities: { tools: {} },
  serverInfo: { name: "huge-server", version: "1.0.0" },
});
const mib = "z".repeat(1024 * 1024);

if (mode === "http") {
  const [port, size] = rest.map(Number);
  http.createServer(async (req, res) => {
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const message = JSON.parse(body);
    if (message.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const answer = (result) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
    };
    if (message.method === "initialize") return answer(initializeResult(message.params));
    if (message.method === "tools/list") return answer({ tools: [{ name: "huge", inputSchema: { type: "object" } }] });
    if (message.method !== "tools/call") return answer({});
    // No Content-Length: the gateway learns the size only by reading.
    res.writeHead(200, { "content-type": "application/json" });
    res.write(`{"jsonrpc":"2.0","id":${JSON.stringify(message.id)},"result":{"content":[{"type":"text","text":"`);
    let closed = false;
    res.on("close", () => (closed = true));
    for (let i = 0; i < size && !closed; i++) {
      if (!res.write(mib)) {
        await new Promise((resolve) => {
          const done = () => {
            res.off("drain", done).off("close", done);
            resolve();
          };
          res.on("drain", done).on("close", done);
        });
      }
    }
    if (!closed) res.end(`"}]}}`);
  }).listen(port, "127.0.0.1");
} else {
  const [size] = rest.map(Number);
  const send = (m) => process.stdout.write(JSON.stringify(m) + "\n");
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    const message = JSON.parse(line);
    if (message.id === undefined) return;
    if (message.method === "initialize") return send({ jsonrpc: "2.0", id: message.id, result: initializeResult(message.params) });
    if (message.method === "tools/list") return send({ jsonrpc: "2.0", id: message.id, result: { tools: [{ name: "flood", inputSchema: { type: "object" } }] } });
    if (message.method === "tools/call") {
      for (let i = 0; i < size; i++) process.stderr.write(mib);
      return send({ jsonrpc: "2.0", id: message.id, result: { content: [{ type: "text", text: `wrote ${size} MiB to stderr` }] } });
    }
    send({ jsonrpc: "2.0", id: message.id, result: {} });
  });
}
