// A stdio MCP server built on the official TypeScript SDK, with tools that misbehave on purpose:
// `crash` exits the process in the middle of a call, `hang` never answers.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { McpServer } = await load("@modelcontextprotocol/sdk/server/mcp.js");
const { StdioServerTransport } = await load("@modelcontextprotocol/sdk/server/stdio.js");
const { z } = await load("zod");

const server = new McpServer({ name: "flaky", version: "1.0.0" });
server.registerTool("echo", { description: "Echoes", inputSchema: { message: z.string() } },
  async ({ message }) => ({ content: [{ type: "text", text: `flaky:${message}:pid=${process.pid}` }] }));
server.registerTool("crash", { description: "Exits with code 3 mid-call" },
  async () => { process.stderr.write("about to crash on purpose\n"); setTimeout(() => process.exit(3), 20); return await new Promise(() => {}); });
server.registerTool("hang", { description: "Never answers" }, async () => await new Promise(() => {}));
server.registerTool("env", { description: "Reports whether a variable is visible", inputSchema: { name: z.string() } },
  async ({ name }) => ({ content: [{ type: "text", text: String(process.env[name] ?? "<unset>") }] }));
await server.connect(new StdioServerTransport());
