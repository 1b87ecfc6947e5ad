// A stdio MCP server built on the official TypeScript SDK, with tools that misbehave on purpose:
// `crash` exits the process in the middle of a call, `hang` never answers (and records when the
// client cancels it), `add-tool` registers a new tool at run time (the SDK then sends list_changed).
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { McpServer } = await load("@modelcontextprotocol/sdk/server/mcp.js");
const { StdioServerTransport } = await load("@modelcontextprotocol/sdk/server/stdio.js");
const { z } = await load("zod");

const server = new McpServer({ name: "flaky", version: "1.0.0" });
const text = (t) => ({ content: [{ type: "text", text: t }] });
let cancelled = 0;
let hanging = 0;
let added = 0;

server.registerTool("echo", { description: "Echoes", inputSchema: { message: z.string() } },
  async ({ message }) => text(`flaky:${message}:pid=${process.pid}`));
server.registerTool("crash", { description: "Exits with code 3 mid-call" },
  async () => { process.stderr.write("about to crash on purpose\n"); setTimeout(() => process.exit(3), 20); return await new Promise(() => {}); });
server.registerTool("hang", { description: "Never answers; counts cancellations" },
  async (extra) => await new Promise(() => { hanging++; extra.signal.addEventListener("abort", () => { cancelled++; hanging--; }); }));
server.registerTool("hanging", { description: "How many hang calls are running now" }, async () => text(String(hanging)));
server.registerTool("cancelled", { description: "How many hang calls were cancelled" }, async () => text(String(cancelled)));
server.registerTool("env", { description: "Reports whether a variable is visible", inputSchema: { name: z.string() } },
  async ({ name }) => text(String(process.env[name] ?? "<unset>")));
server.registerTool("add-tool", { description: "Registers tool extra-N" }, async () => {
  added++;
  server.registerTool(`extra-${added}`, { description: "Added at run time" }, async () => text("extra"));
  return text(`extra-${added}`);
});
await server.connect(new StdioServerTransport());
