// The v2 TypeScript SDK client at MCP 2026-07-28 calling a tool that needs approval: the gateway answers with
// input_required (elicitation/create), the SDK's multi-round-trip auto-fulfilment asks this handler and retries.
// argv: URL TOOL ARGUMENTS_JSON ACTION ("accept", "decline"). Prints one JSON object.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { Client, StreamableHTTPClientTransport } = await load("@modelcontextprotocol/client");

const [url, tool, args, action] = process.argv.slice(2);
const asked = [];
const client = new Client({ name: "archestra-ts-approval", version: "1.0.0" },
  { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
client.setRequestHandler("elicitation/create", async (request) => {
  asked.push(request.params.message);
  return { action };
});
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
await client.close();
console.log(JSON.stringify({ asked, isError: result.isError ?? false, text: result.content[0].text }));
