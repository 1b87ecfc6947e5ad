// The npm `@anthropic-ai/sdk` as an application uses it, with only baseURL and the API key (the virtual key) changed.
//   node anthropic.mjs SCENARIO BASE_URL API_KEY MODEL
// Prints one JSON line describing what the SDK returned or raised. Retries are off (maxRetries: 0) so a
// 429 or 500 reaches the caller once.
import Anthropic from '@anthropic-ai/sdk';

const [scenario, baseURL, apiKey, model] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0 });
const base = { model, max_tokens: 256, messages: [{ role: 'user', content: 'What is the weather in Paris?' }] };
const tools = [{
  name: 'get_weather',
  description: 'Current weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}];
const forceTool = { type: 'tool', name: 'get_weather' };

// Most specific first: every class below extends APIError.
const errorClasses = ['BadRequestError', 'AuthenticationError', 'PermissionDeniedError', 'NotFoundError', 'RateLimitError',
  'InternalServerError', 'APIConnectionTimeoutError', 'APIConnectionError', 'APIUserAbortError', 'APIError', 'AnthropicError'];

function describeError(err) {
  const sdkClass = errorClasses.find((name) => err instanceof Anthropic[name]);
  return {
    error: sdkClass ?? err?.constructor?.name ?? typeof err,
    sdk: sdkClass !== undefined,
    status: err?.status ?? null,
    message: String(err?.message ?? err),
    type: err?.error?.error?.type ?? null,
    requestId: err?.requestID ?? null,
    retryAfter: err?.headers?.get?.('retry-after') ?? null,
  };
}

function blocks(message) {
  return message.content.map((b) => (b.type === 'text' ? { type: 'text', text: b.text } : { type: b.type, id: b.id, name: b.name, input: b.input }));
}

const scenarios = {
  async plain() {
    const m = await client.messages.create(base);
    return { text: m.content.map((b) => b.text ?? '').join(''), model: m.model, stop: m.stop_reason, usage: m.usage };
  },
  async stream() {
    // Raw events, so the text is exactly what the deltas carried.
    const out = { text: '', events: [], usage: null, stop: null };
    const stream = await client.messages.create({ ...base, stream: true });
    for await (const event of stream) {
      out.events.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') out.text += event.delta.text;
      if (event.type === 'message_start') out.usage = { ...event.message.usage };
      if (event.type === 'message_delta') {
        out.usage.output_tokens = event.usage.output_tokens;
        out.stop = event.delta.stop_reason;
      }
    }
    return out;
  },
  async tool() {
    const m = await client.messages.create({ ...base, tools, tool_choice: forceTool });
    return { stop: m.stop_reason, content: blocks(m), usage: m.usage };
  },
  async 'stream-tool'() {
    // The SDK's stream helper assembles input_json_delta pieces into the tool_use input.
    const m = await client.messages.stream({ ...base, tools, tool_choice: forceTool }).finalMessage();
    return { stop: m.stop_reason, content: blocks(m), usage: m.usage };
  },
  async error() {
    try {
      await client.messages.create(base);
      return { unexpected: 'no error' };
    } catch (err) {
      return describeError(err);
    }
  },
  async cut() {
    const out = { text: '', events: [] };
    try {
      const stream = await client.messages.create({ ...base, stream: true });
      for await (const event of stream) {
        out.events.push(event.type);
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') out.text += event.delta.text;
      }
      return { unexpected: 'no error', ...out };
    } catch (err) {
      return { ...out, ...describeError(err) };
    }
  },
};

if (!scenarios[scenario]) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
console.log(JSON.stringify(await scenarios[scenario]()));
