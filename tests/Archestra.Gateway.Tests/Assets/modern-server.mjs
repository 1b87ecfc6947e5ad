// A modern-only MCP server built with the v2 TypeScript SDK (@modelcontextprotocol/server 2.4.0):
// createMcpHandler(factory, { legacy: "reject" }) answers only 2026-07-28 requests (initialize gets 400 / -32022).
// Served over node:http on PORT. Counts what reached it, by method and era, and reports it through the `stats` tool,
// so a test can prove the gateway spoke 2026-07-28 statelessly and honoured the tools/list TTL (TTL_MS, default 60000).
// `plan` asks its client for input through multi-round-trip requests: an elicitation, then a sampling and a roots listing
// in one round, each answer checked on the retry, the server keeping nothing between rounds.
import http from "node:http";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { McpServer, createMcpHandler, fromJsonSchema, inputRequired, inputResponse } = await load("@modelcontextprotocol/server");

const stats = { methods: {}, sessionHeaders: 0, withoutHeaders: 0, rejected: 0 };
// `grow` adds the tool `late` and tells subscriptions/listen streams that the tool list changed.
let grown = false;
let handler;
const ttlMs = Number(process.env.TTL_MS ?? "60000");

const factory = () => {
  const server = new McpServer(
    { name: "modern-only", version: "1.0.0" },
    { cacheHints: { "tools/list": { ttlMs, cacheScope: "public" } }, capabilities: { resources: { subscribe: true, listChanged: true } } });
  server.registerResource("pad", "note://pad", { mimeType: "text/plain" }, async (uri) => ({ contents: [{ uri: uri.href, text: "pad" }] }));
  server.registerTool(
    "touch",
    { description: "Tells subscribers that note://pad changed", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
    async () => {
      handler.notify.resourceUpdated("note://pad");
      return { content: [{ type: "text", text: "touched" }] };
    });
  server.registerTool(
    "shout",
    { description: "Upper-cases text", inputSchema: fromJsonSchema({ type: "object", properties: { text: { type: "string" } }, required: ["text"] }) },
    async ({ text }) => ({ content: [{ type: "text", text: String(text).toUpperCase() }] }));
  // SEP-2243: `region` is declared with x-mcp-header, so the SDK refuses a call whose Mcp-Param-Region header is missing
  // or disagrees with the argument (400 / -32020).
  server.registerTool(
    "route",
    {
      description: "Says where the request was routed",
      inputSchema: fromJsonSchema({ type: "object", properties: { region: { type: "string", "x-mcp-header": "Region" } }, required: ["region"] }),
    },
    async ({ region }) => ({ content: [{ type: "text", text: `routed to ${region}` }] }));
  server.registerTool(
    "plan",
    {
      description: "Asks the user, the model and the roots, then answers",
      inputSchema: fromJsonSchema({ type: "object", properties: { topic: { type: "string" } } }),
    },
    async ({ topic }, ctx) => {
      stats.plans = (stats.plans ?? 0) + 1;
      const responses = ctx.mcpReq.inputResponses;
      const approval = inputResponse(responses, "approve");
      if (approval.kind !== "elicit" && ctx.mcpReq.requestState() === undefined) {
        return inputRequired({
          inputRequests: {
            approve: inputRequired.elicit({
              message: `Plan ${topic}?`,
              requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
            }),
          },
          requestState: "round-1",
        });
      }
      if (ctx.mcpReq.requestState() === "round-1") {
        if (approval.kind !== "elicit") return { content: [{ type: "text", text: "no approval" }], isError: true };
        if (approval.action !== "accept") return { content: [{ type: "text", text: `not planned: ${approval.action}` }] };
        return inputRequired({
          inputRequests: {
            idea: inputRequired.createMessage({ messages: [{ role: "user", content: { type: "text", text: `idea for ${topic}` } }], maxTokens: 20 }),
            where: inputRequired.listRoots(),
          },
          requestState: `round-2:${approval.content.name}`,
        });
      }
      const idea = inputResponse(responses, "idea");
      const where = inputResponse(responses, "where");
      const name = ctx.mcpReq.requestState().slice("round-2:".length);
      const text = idea.kind === "sampling" ? idea.result.content.text : "?";
      const root = where.kind === "roots" ? where.roots[0].uri : "?";
      return { content: [{ type: "text", text: `planned ${topic} for ${name}: ${text} in ${root}` }] };
    });
  server.registerTool(
    "grow",
    { description: "Adds the tool late", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
    async () => {
      grown = true;
      handler.notify.toolsChanged();
      return { content: [{ type: "text", text: "grown" }] };
    });
  if (grown) {
    server.registerTool(
      "late",
      { description: "Exists after grow", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
      async () => ({ content: [{ type: "text", text: "late" }] }));
  }
  server.registerTool(
    "stats",
    { description: "What reached this server", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
    async () => ({ content: [{ type: "text", text: JSON.stringify(stats) }] }));
  return server;
};
handler = createMcpHandler(factory, { legacy: "reject" });

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
