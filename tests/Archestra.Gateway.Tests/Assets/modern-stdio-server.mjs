// A modern-only MCP server over stdio, built with the v2 TypeScript SDK (@modelcontextprotocol/server 2.4.0):
// serveStdio(factory, { legacy: "reject" }) answers initialize with the unsupported-protocol-version error and serves only
// 2026-07-28 requests. `whisper` lower-cases text; `confirm` asks its client (multi-round-trip) who confirms; `grow` adds a
// tool and announces it to subscriptions/listen streams.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { McpServer, fromJsonSchema, inputRequired, inputResponse } = await load("@modelcontextprotocol/server");
const { serveStdio } = await load("@modelcontextprotocol/server/stdio");

serveStdio(() => {
  const server = new McpServer({ name: "modern-stdio", version: "1.0.0" });
  server.registerTool(
    "whisper",
    { description: "Lower-cases text", inputSchema: fromJsonSchema({ type: "object", properties: { text: { type: "string" } }, required: ["text"] }) },
    async ({ text }) => ({ content: [{ type: "text", text: String(text).toLowerCase() }] }));
  server.registerTool(
    "confirm",
    { description: "Asks who confirms", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
    async (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "who");
      if (answer.kind !== "elicit") {
        return inputRequired({
          inputRequests: {
            who: inputRequired.elicit({ message: "Who confirms?", requestedSchema: { type: "object", properties: { name: { type: "string" } } } }),
          },
        });
      }
      return { content: [{ type: "text", text: answer.action === "accept" ? `confirmed by ${answer.content.name}` : answer.action }] };
    });
  server.registerTool(
    "grow",
    { description: "Adds the tool late and says the tool list changed", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
    async () => {
      server.registerTool(
        "late",
        { description: "Exists after grow", inputSchema: fromJsonSchema({ type: "object", properties: {} }) },
        async () => ({ content: [{ type: "text", text: "late" }] }));
      server.sendToolListChanged();
      return { content: [{ type: "text", text: "grown" }] };
    });
  return server;
}, { legacy: "reject" });
