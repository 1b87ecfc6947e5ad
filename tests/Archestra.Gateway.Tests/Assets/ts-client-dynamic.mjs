// Dynamic tools and built-ins through the TypeScript SDK clients. argv[3] "v1" (@modelcontextprotocol/sdk, 2025 era): list,
// call argv[4] (a tool whose untrusted result taints the session), wait for notifications/tools/list_changed, list again and
// ask archestra__whoami. "v2" (@modelcontextprotocol/client pinned to 2026-07-28): list and search with
// archestra__search_tools for argv[4]. Prints one JSON object with what it saw.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const [url, sdk, arg] = process.argv.slice(2);
const names = async (client) => (await client.listTools()).tools.map((t) => t.name).sort();
const json = (result) => JSON.parse(result.content[0].text);
const out = {};

if (sdk === "v1") {
  const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/client/streamableHttp.js");
  const { ToolListChangedNotificationSchema } = await load("@modelcontextprotocol/sdk/types.js");
  const client = new Client({ name: "archestra-ts-dynamic", version: "1.0.0" });
  let notified;
  const changed = new Promise((resolve) => (notified = resolve));
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => notified(true));
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  out.before = await names(client);
  await client.callTool({ name: arg, arguments: {} });
  out.notified = await Promise.race([changed, new Promise((resolve) => setTimeout(() => resolve(false), 20000))]);
  out.after = await names(client);
  out.whoami = json(await client.callTool({ name: "archestra__whoami", arguments: {} }));
  await client.close();
} else {
  const { Client, StreamableHTTPClientTransport } = await load("@modelcontextprotocol/client");
  const client = new Client({ name: "archestra-ts-dynamic", version: "1.0.0" }, { capabilities: {}, versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  out.before = await names(client);
  out.search = json(await client.callTool({ name: "archestra__search_tools", arguments: { query: arg } }));
  await client.close();
}
console.log(JSON.stringify(out));
