// The npm `openai` SDK as an application uses it, with only baseURL and the API key (the virtual key) changed.
//   node openai.mjs SCENARIO BASE_URL API_KEY MODEL [SECOND_MODEL]
// Prints one JSON line describing what the SDK returned or raised. Retries are off (maxRetries: 0) so a
// 429 or 500 reaches the caller once.
import OpenAI from 'openai';

const [scenario, baseURL, apiKey, model, secondModel] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];
const forceTool = { type: 'function', function: { name: 'get_weather' } };

// Most specific first: every class below extends APIError.
const errorClasses = ['BadRequestError', 'AuthenticationError', 'PermissionDeniedError', 'NotFoundError', 'RateLimitError',
  'InternalServerError', 'APIConnectionTimeoutError', 'APIConnectionError', 'APIUserAbortError', 'APIError', 'OpenAIError'];

function describeError(err) {
  const sdkClass = errorClasses.find((name) => err instanceof OpenAI[name]);
  return {
    error: sdkClass ?? err?.constructor?.name ?? typeof err,
    sdk: sdkClass !== undefined,
    status: err?.status ?? null,
    message: String(err?.message ?? err),
    type: err?.type ?? null,
    code: err?.code ?? null,
    retryAfter: err?.headers?.get?.('retry-after') ?? null,
  };
}

function toolCalls(message) {
  return (message.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
}

async function collect(stream, out) {
  for await (const chunk of stream) {
    out.chunks++;
    if (chunk.usage) out.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta?.content) out.text += choice.delta.content;
      if (choice.finish_reason) out.finish = choice.finish_reason;
    }
  }
  return out;
}

const scenarios = {
  async plain() {
    const c = await client.chat.completions.create({ model, messages });
    return { text: c.choices[0].message.content, model: c.model, finish: c.choices[0].finish_reason, usage: c.usage };
  },
  async stream() {
    const stream = await client.chat.completions.create({ model, messages, stream: true });
    return collect(stream, { text: '', chunks: 0, usage: null, finish: null });
  },
  async 'stream-usage'() {
    const stream = await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
    return collect(stream, { text: '', chunks: 0, usage: null, finish: null });
  },
  async tool() {
    const c = await client.chat.completions.create({ model, messages, tools, tool_choice: forceTool });
    return { finish: c.choices[0].finish_reason, content: c.choices[0].message.content, toolCalls: toolCalls(c.choices[0].message), usage: c.usage };
  },
  async 'stream-tool'() {
    // The SDK's stream helper assembles the tool-call deltas into a final message.
    const runner = client.chat.completions.stream({ model, messages, tools, tool_choice: forceTool, stream_options: { include_usage: true } });
    const c = await runner.finalChatCompletion();
    return { finish: c.choices[0].finish_reason, toolCalls: toolCalls(c.choices[0].message), usage: c.usage ?? null };
  },
  // No encoding_format: the SDK asks for base64 and decodes it to numbers itself; 'embeddings-float' asks for floats.
  async embeddings() {
    const e = await client.embeddings.create({ model, input: ['the first text', 'the second'] });
    return { vectors: e.data.map((d) => Array.from(d.embedding)), indexes: e.data.map((d) => d.index), model: e.model, usage: e.usage };
  },
  async 'embeddings-float'() {
    const e = await client.embeddings.create({ model, input: 'one text to embed', encoding_format: 'float', dimensions: 3 });
    return { vectors: e.data.map((d) => d.embedding), indexes: e.data.map((d) => d.index), model: e.model, usage: e.usage };
  },
  async 'embeddings-error'() {
    try {
      await client.embeddings.create({ model, input: 'hi' });
      return { unexpected: 'no error' };
    } catch (err) {
      return describeError(err);
    }
  },
  // A tool-call round trip as an application writes it: the assistant message the SDK returned goes back as it is,
  // followed by the tool's result; SECOND_MODEL answers the second turn.
  async 'round-trip'() {
    const ask = [{ role: 'user', content: '{"city":"Paris"}' }];
    const first = await client.chat.completions.create({ model, messages: ask, tools });
    const message = first.choices[0].message;
    const results = (message.tool_calls ?? []).map((c) => ({ role: 'tool', tool_call_id: c.id, content: '18 degrees' }));
    const second = await client.chat.completions.create({ model: secondModel, messages: [...ask, message, ...results], tools });
    return {
      firstFinish: first.choices[0].finish_reason,
      preamble: message.content,
      toolCalls: toolCalls(message),
      text: second.choices[0].message.content,
      finish: second.choices[0].finish_reason,
      usage: second.usage,
    };
  },
  async error() {
    try {
      await client.chat.completions.create({ model, messages });
      return { unexpected: 'no error' };
    } catch (err) {
      return describeError(err);
    }
  },
  async cut() {
    const out = { text: '', chunks: 0, usage: null, finish: null };
    try {
      await collect(await client.chat.completions.create({ model, messages, stream: true }), out);
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
