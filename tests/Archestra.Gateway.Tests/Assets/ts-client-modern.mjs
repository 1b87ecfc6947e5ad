// The v2 TypeScript SDK client (@modelcontextprotocol/client 2.4.0) driving the gateway in MCP 2026-07-28:
// versionNegotiation "pin" (argv[3] = "pin") or "auto". Lists, calls (with progress when offered), reads a resource and
// prints one JSON object with what it observed plus the raw wire of every request it sent; the xunit test asserts on it.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { Client, StreamableHTTPClientTransport } = await load("@modelcontextprotocol/client");

const url = new URL(process.argv[2]);
const mode = process.argv[3] === "pin" ? { pin: "2026-07-28" } : "auto";
const wire = [];
const fetchAndLog = async (input, init) => {
  const headers = new Headers(init?.headers);
  const response = await fetch(input, init);
  wire.push({
    method: init?.method ?? "GET",
    protocolVersion: headers.get("mcp-protocol-version"),
    mcpMethod: headers.get("mcp-method"),
    mcpName: headers.get("mcp-name"),
    session: headers.get("mcp-session-id"),
    status: response.status,
    responseSession: response.headers.get("mcp-session-id"),
  });
  return response;
};

const client = new Client({ name: "archestra-ts-modern", version: "1.0.0" }, { capabilities: {}, versionNegotiation: { mode } });
await client.connect(new StreamableHTTPClientTransport(url, { fetch: fetchAndLog }));
const out = {
  era: client.getProtocolEra() ?? null,
  protocolVersion: client.getNegotiatedProtocolVersion() ?? null,
  server: client.getServerVersion()?.name ?? null,
};

const tools = await client.listTools();
out.tools = tools.tools.map((t) => t.name);

const echo = await client.callTool({ name: "local__echo", arguments: { message: "from-modern" } });
out.echo = echo.content[0].text;
out.echoResultType = echo.resultType ?? null;

if (out.tools.includes("remote__trigger-long-running-operation")) {
  const progress = [];
  await client.callTool(
    { name: "remote__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
    { onprogress: (p) => progress.push(p.progress) });
  out.progress = progress;
}

const resources = await client.listResources();
out.resourceCount = resources.resources.length;
const first = resources.resources.find((r) => r.uri.startsWith("demo://resource/static/document/")) ?? resources.resources[0];
const read = await client.readResource({ uri: first.uri });
out.read = read.contents[0].uri;

// argv[4]: one more tool to call with { text }, e.g. a modern-only upstream's tool.
if (process.argv[4]) {
  const extra = await client.callTool({ name: process.argv[4], arguments: { text: "from-modern" } });
  out.extra = extra.content[0].text;
}

await client.close();
out.wire = wire;
console.log(JSON.stringify(out));
