// A stdio MCP server (official TypeScript SDK) whose tools look like a code host's, each of which appends its own name
// to the file named by RECORD_FILE when called: the tests read that file to prove a call never reached the server.
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { McpServer } = await load("@modelcontextprotocol/sdk/server/mcp.js");
const { StdioServerTransport } = await load("@modelcontextprotocol/sdk/server/stdio.js");

const server = new McpServer({ name: "recording", version: "1.0.0" });
const tools = {
  get_issue: "Reads one issue with its comments",
  get_repo: "Reads a repository's metadata",
  search_code: "Searches code across repositories",
  search_issues: "Searches issues and pull requests",
  create_issue: "Opens a new issue",
  delete_repo: "Deletes a repository for good",
  read_secret: "Reads a repository secret",
};
for (const [name, description] of Object.entries(tools)) {
  server.registerTool(name, { description }, async () => {
    appendFileSync(process.env.RECORD_FILE, name + "\n");
    return { content: [{ type: "text", text: `${name} done` }] };
  });
}
await server.connect(new StdioServerTransport());
