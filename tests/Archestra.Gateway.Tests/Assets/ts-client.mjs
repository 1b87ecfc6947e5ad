// The official TypeScript SDK client driving the gateway: list, call, progress and a sampling round trip.
// Prints one JSON object with what it observed; the xunit test asserts on it.
// usage: node ts-client.mjs URL [PREFIX_OF_ECHO_AND_SAMPLING=local__] [PREFIX_OF_LONG_RUN=remote__]
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { CreateMessageRequestSchema } = await load("@modelcontextprotocol/sdk/types.js");

const url = new URL(process.argv[2]);
const [local, remote] = [process.argv[3] ?? "local__", process.argv[4] ?? "remote__"];
const client = new Client({ name: "archestra-ts-test", version: "1.0.0" }, { capabilities: { sampling: {} } });
let samplingRequests = 0;
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  samplingRequests++;
  const text = request.params.messages[0].content.text;
  return { model: "ts-model", role: "assistant", content: { type: "text", text: `ts-sampled<${text}>` } };
});

await client.connect(new StreamableHTTPClientTransport(url));
const out = { protocolVersion: client.transport.protocolVersion ?? null, sessionId: client.transport.sessionId ?? null };
const tools = await client.listTools();
out.tools = tools.tools.map((t) => t.name);

const echo = await client.callTool({ name: `${local}echo`, arguments: { message: "from-ts" } });
out.echo = echo.content[0].text;

const progress = [];
const longRun = await client.callTool(
  { name: `${remote}trigger-long-running-operation`, arguments: { duration: 0.3, steps: 3 } },
  undefined,
  { onprogress: (p) => progress.push(p.progress) });
out.progress = progress;
out.longRun = longRun.content[0].text;

const sampled = await client.callTool({ name: `${local}trigger-sampling-request`, arguments: { prompt: "ts-prompt", maxTokens: 5 } });
out.sampling = sampled.content[0].text;
out.samplingRequests = samplingRequests;

await client.close();
console.log(JSON.stringify(out));
