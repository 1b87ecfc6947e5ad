// An MCP client whose calls make the server ask for input (elicitation, sampling, roots), in either era:
// argv: URL ERA ("modern": the v2 TypeScript SDK pinned to 2026-07-28, which fulfils input_required on its own and retries;
// "2025": the v1 SDK, which answers the server's requests on the call's stream) TOOL ARGUMENTS_JSON [ACTION].
// The handlers answer with fixed values and record what they were asked. Prints one JSON object.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.ARCHESTRA_NODE_MODULES + "/");
const load = (p) => import(pathToFileURL(require.resolve(p)).href);
const [url, era, tool, args, action = "accept"] = process.argv.slice(2);
const asked = [];
const calls = [];

const elicit = async (request) => {
  asked.push({ method: "elicitation/create", message: request.params.message });
  return action === "accept" ? { action, content: { name: "Ada Lovelace", check: true } } : { action };
};
const sample = async (request) => {
  const text = request.params.messages[0].content.text;
  asked.push({ method: "sampling/createMessage", message: text });
  return { model: "archestra-test-model", role: "assistant", content: { type: "text", text: `sampled<${text}>` }, stopReason: "endTurn" };
};
const roots = async () => {
  asked.push({ method: "roots/list" });
  return { roots: [{ uri: "file:///srv/archestra-root", name: "archestra-root" }] };
};
const capabilities = { elicitation: {}, sampling: {}, roots: { listChanged: true } };
const fetchAndLog = async (input, init) => {
  if (init?.method === "POST" && typeof init.body === "string") {
    const body = JSON.parse(init.body);
    if (body.method === "tools/call") {
      calls.push({ id: body.id, requestState: body.params.requestState ?? null, inputResponses: Object.keys(body.params.inputResponses ?? {}) });
    }
  }
  return fetch(input, init);
};

let client;
if (era === "modern") {
  const { Client, StreamableHTTPClientTransport } = await load("@modelcontextprotocol/client");
  client = new Client({ name: "archestra-ts-input", version: "1.0.0" }, { capabilities, versionNegotiation: { mode: { pin: "2026-07-28" } } });
  client.setRequestHandler("elicitation/create", elicit);
  client.setRequestHandler("sampling/createMessage", sample);
  client.setRequestHandler("roots/list", roots);
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: fetchAndLog }));
} else {
  const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/client/streamableHttp.js");
  const { ElicitRequestSchema, CreateMessageRequestSchema, ListRootsRequestSchema } = await load("@modelcontextprotocol/sdk/types.js");
  client = new Client({ name: "archestra-ts-input", version: "1.0.0" }, { capabilities });
  client.setRequestHandler(ElicitRequestSchema, elicit);
  client.setRequestHandler(CreateMessageRequestSchema, sample);
  client.setRequestHandler(ListRootsRequestSchema, roots);
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: fetchAndLog }));
}

const out = { asked, calls };
try {
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  out.isError = result.isError ?? false;
  out.text = result.content.map((c) => c.text ?? "").join("\n");
} catch (error) {
  out.error = { code: error.code ?? null, message: String(error.message ?? error) };
}
await client.close();
console.log(JSON.stringify(out));
