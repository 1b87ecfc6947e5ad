// Checks what the fixture offers beyond the conformance scenarios, through the official
// TypeScript SDK client: echo, slow (and its cancellation), list_changed from
// test_dynamic_tool, resources/updated for a subscription, and logging/setLevel filtering.
// usage: node fixture-extras.mjs MODULES_DIR --url URL
//        node fixture-extras.mjs MODULES_DIR --stdio COMMAND [ARGS...]
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';

const [modules, mode, ...target] = process.argv.slice(2);
const sdk = (p) => import(pathToFileURL(`${modules}/@modelcontextprotocol/sdk/dist/esm/${p}`).href);
const { Client } = await sdk('client/index.js');
const types = await sdk('types.js');

let transport;
if (mode === '--url') {
  const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
  transport = new StreamableHTTPClientTransport(new URL(target[0]));
} else if (mode === '--stdio') {
  const { StdioClientTransport } = await sdk('client/stdio.js');
  transport = new StdioClientTransport({ command: target[0], args: target.slice(1), stderr: 'inherit' });
} else {
  console.error('usage: node fixture-extras.mjs MODULES_DIR (--url URL | --stdio COMMAND [ARGS...])');
  process.exit(2);
}

const client = new Client({ name: 'fixture-extras', version: '1.0.0' }, { capabilities: {} });
const seen = [];
const waiters = [];
const record = (method) => (n) => {
  seen.push(method === 'notifications/message' ? `log:${n.params.level}` : `${method}:${n.params?.uri ?? ''}`);
  for (const w of waiters.splice(0)) w();
};
client.setNotificationHandler(types.ToolListChangedNotificationSchema, record('notifications/tools/list_changed'));
client.setNotificationHandler(types.ResourceListChangedNotificationSchema, record('notifications/resources/list_changed'));
client.setNotificationHandler(types.PromptListChangedNotificationSchema, record('notifications/prompts/list_changed'));
client.setNotificationHandler(types.ResourceUpdatedNotificationSchema, record('notifications/resources/updated'));
client.setNotificationHandler(types.LoggingMessageNotificationSchema, record('notifications/message'));

async function waitFor(entry) {
  const deadline = Date.now() + 5000;
  while (!seen.includes(entry)) {
    assert.ok(Date.now() < deadline, `no ${entry} within 5 s; saw ${JSON.stringify(seen)}`);
    await new Promise((resolve) => { waiters.push(resolve); setTimeout(resolve, 100); });
  }
}

const text = (result) => result.content.find((c) => c.type === 'text')?.text;

await client.connect(transport);
// Unsolicited notifications ride the optional GET stream; give the client a moment to open it.
await new Promise((resolve) => setTimeout(resolve, 300));

assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'héllo' } })), 'héllo');
assert.equal(text(await client.callTool({ name: 'slow', arguments: { ms: 50 } })), 'Slept 50 ms');

const aborted = new AbortController();
const slow = client.callTool({ name: 'slow', arguments: { ms: 60000 } }, undefined, { signal: aborted.signal });
setTimeout(() => aborted.abort(), 100);
await assert.rejects(slow);

const names = async () => (await client.listTools()).tools.map((t) => t.name);
assert.ok(!(await names()).includes('dynamic_extra_tool'));
assert.match(text(await client.callTool({ name: 'test_dynamic_tool', arguments: {} })), /enabled/);
await waitFor('notifications/tools/list_changed:');
assert.ok((await names()).includes('dynamic_extra_tool'));
assert.equal(text(await client.callTool({ name: 'dynamic_extra_tool', arguments: {} })), 'The dynamic tool answered.');
await client.callTool({ name: 'test_dynamic_tool', arguments: {} });
assert.ok(!(await names()).includes('dynamic_extra_tool'));

await client.callTool({ name: 'test_dynamic_tool', arguments: { kind: 'resource' } });
await waitFor('notifications/resources/list_changed:');
await client.callTool({ name: 'test_dynamic_tool', arguments: { kind: 'prompt' } });
await waitFor('notifications/prompts/list_changed:');

await client.subscribeResource({ uri: 'test://watched-resource' });
await client.callTool({ name: 'test_update_watched_resource', arguments: {} });
await waitFor('notifications/resources/updated:test://watched-resource');
const watched = await client.readResource({ uri: 'test://watched-resource' });
assert.match(watched.contents[0].text, /version \d+/);
await client.unsubscribeResource({ uri: 'test://watched-resource' });

await client.setLoggingLevel('error');
await client.callTool({ name: 'test_logging_all_levels', arguments: {} });
await waitFor('log:emergency');
assert.ok(!seen.includes('log:warning'), `warning passed an error threshold: ${JSON.stringify(seen)}`);

await client.close();
console.log(`fixture extras (${mode.slice(2)}): ok`);
