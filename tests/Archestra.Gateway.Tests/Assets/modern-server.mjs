// A modern-only MCP server built with the v2 TypeScript SDK (@modelcontextprotocol/server 2.4.0):
// createMcpHandler(factory, { legacy: "reject" }) answers only 2026-07-28 requests (initialize gets 400 / -32022).
// Served over node:http on PORT. Counts what reached it, by method and era, and reports it through the `stats` tool,
// so a test can prove the gateway spoke 2026-07-28 statelessly and honoured the tools/list TTL (TTL_MS, default 60000).
import http from "node:http";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { McpServer, createMcpHandler, fromJsonSchema } = await load("@modelcontextprotocol/server");

const stats = { methods: {}, sessionHeaders: 0, withoutHeaders: 0, rejected: 0 };
const ttlMs = Number(process.env.TTL_MS ?? "60000");

const factory = () => {
  const server = new McpServer(
    { name: "modern-only", version: "1.0.0" },
    { cacheHints: { "tools/list": { ttlMs, cacheScope: "public" } } });
  server.registerTool(
    "shout",
    { description: "Upper-cases text", inputSchema: fromJsonSchema({ type: "object", properties: { text: { type: "string" } }, required: ["text"] }) },
    async ({ text }) => ({ content: [{ type: "text", text: String(text).toUpperCase() }] }));
  server.registerTool(
    "stats",
    { description: "What reached this server", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
    async () => ({ content: [{ type: "text", text: JSON.stringify(stats) }] }));
  return server;
};
const handler = createMcpHandler(factory, { legacy: "reject" });

http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  if (req.method === "POST") {
    try {
      const message = JSON.parse(body.toString("utf8"));
      stats.methods[message.method] = (stats.methods[message.method] ?? 0) + 1;
    } catch { /* counted by the handler's answer */ }
    if (req.headers["mcp-session-id"]) stats.sessionHeaders++;
    if (!req.headers["mcp-method"] || !req.headers["mcp-protocol-version"]) stats.withoutHeaders++;
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
  }
  const request = new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body: req.method === "POST" ? body : undefined });
  const response = await handler.fetch(request);
  if (response.status >= 400) stats.rejected++;
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) {
    for await (const chunk of response.body) res.write(chunk);
  }
  res.end();
}).listen(Number(process.env.PORT), "127.0.0.1");
