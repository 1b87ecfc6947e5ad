// A small MCP stdio server for the failures a real server won't produce on demand: it exits in the
// middle of a call, never answers, reports its environment and the cancellations it received.
import readline from "node:readline";

const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");
const text = (id, value) => send({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: value }] } });

// Servers that print banners to stdout exist; the gateway must skip such lines.
process.stdout.write("stdio-test-server starting (this line is not JSON)\n");
process.stderr.write("stdio-test-server: stderr is for logs\n");

const cancelled = [];
const tools = ["echo", "env", "crash", "hang", "cancelled", "stderr-flood", "huge"].map((name) => ({
  name,
  inputSchema: { type: "object" },
}));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.method === "notifications/cancelled") {
    cancelled.push(message.params.requestId);
    return;
  }
  if (message.id === undefined || message.method === undefined) {
    return;
  }
  switch (message.method) {
    case "initialize":
      send({
        jsonrpc: "2.0",
        id: message.id,
        result: {
          protocolVersion: message.params.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: "stdio-test-server", version: "1.0.0" },
        },
      });
      return;
    case "tools/list":
      send({ jsonrpc: "2.0", id: message.id, result: { tools } });
      return;
    case "tools/call":
      switch (message.params.name) {
        case "echo":
          text(message.id, message.params.arguments.message);
          return;
        case "env":
          text(message.id, JSON.stringify(process.env));
          return;
        case "crash":
          process.stderr.write("crashing on purpose\n");
          process.exit(3);
          return;
        case "hang":
          return;
        case "cancelled":
          text(message.id, JSON.stringify(cancelled));
          return;
        case "stderr-flood": {
          // stderr writes to a pipe are synchronous on Linux: when the answer goes out, the gateway has read all
          // but the pipe's 64 KiB of the flood.
          const mib = "x".repeat(1024 * 1024);
          for (let i = 0; i < message.params.arguments.mib; i++) {
            process.stderr.write(mib);
          }
          if (message.params.arguments.newline) {
            process.stderr.write("\n");
          }
          text(message.id, "flooded");
          return;
        }
        case "huge": {
          // One answer line of about `bytes` bytes, with the id before the result (as the Python SDK writes it)
          // or after it (as the TypeScript SDK does).
          const value = "y".repeat(message.params.arguments.bytes);
          const result = { content: [{ type: "text", text: value }] };
          const answer = message.params.arguments.idFirst
            ? { jsonrpc: "2.0", id: message.id, result }
            : { result, jsonrpc: "2.0", id: message.id };
          send(answer);
          return;
        }
      }
      send({ jsonrpc: "2.0", id: message.id, error: { code: -32602, message: "unknown tool" } });
      return;
    default:
      send({ jsonrpc: "2.0", id: message.id, error: { code: -32601, message: "method not found" } });
  }
});
