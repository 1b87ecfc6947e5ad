// The TypeScript SDK clients against a profile with a tool selection: argv[3] "v1" (@modelcontextprotocol/sdk, 2025 era) or
// "v2" (@modelcontextprotocol/client pinned to 2026-07-28). Lists the tools, calls argv[4] (expected to be refused) and
// argv[5] (expected to run), and prints one JSON object with what it saw.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const [url, sdk, refused, allowed] = process.argv.slice(2);

let client;
if (sdk === "v1") {
  const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/client/streamableHttp.js");
  client = new Client({ name: "archestra-ts-selection", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
} else {
  const { Client, StreamableHTTPClientTransport } = await load("@modelcontextprotocol/client");
  client = new Client({ name: "archestra-ts-selection", version: "1.0.0" }, { capabilities: {}, versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
}

const out = { tools: (await client.listTools()).tools.map((t) => t.name).sort() };
try {
  const result = await client.callTool({ name: refused, arguments: {} });
  out.refused = { result };
} catch (e) {
  out.refused = { code: e.code ?? null, message: String(e.message) };
}
const ran = await client.callTool({ name: allowed, arguments: {} });
out.allowed = ran.content?.[0]?.text ?? null;
console.log(JSON.stringify(out));
await client.close();
