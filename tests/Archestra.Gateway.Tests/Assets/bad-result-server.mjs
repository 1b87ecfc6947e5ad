// A stdio MCP server whose answers carry a `result` that is not an object (MCP requires one), which a
// real SDK server cannot be made to send. argv[2] is the result's JSON text; argv[3] says where it goes:
// "calls" (tools/call, resources/read, prompts/get and every other request) or "lists" (the list requests).
import readline from "node:readline";

const bad = JSON.parse(process.argv[2]);
const lists = process.argv[3] === "lists";
const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.id === undefined || message.method === undefined) {
    return;
  }
  const reply = (result) => send({ jsonrpc: "2.0", id: message.id, result });
  switch (message.method) {
    case "initialize":
      return reply({
        protocolVersion: message.params.protocolVersion,
        capabilities: { tools: {}, resources: {}, prompts: {} },
        serverInfo: { name: "bad-result", version: "1.0.0" },
      });
    case "tools/list":
      return reply(lists ? bad : { tools: [{ name: "t", inputSchema: { type: "object" } }] });
    case "resources/list":
      return reply(lists ? bad : { resources: [{ uri: "bad://r", name: "r" }] });
    case "resources/templates/list":
      return reply(lists ? bad : { resourceTemplates: [] });
    case "prompts/list":
      return reply(lists ? bad : { prompts: [{ name: "p" }] });
    default:
      return reply(bad);
  }
});
