using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// A fake OpenAI and Anthropic API on loopback (no real provider is reachable here). It answers in each API's
/// documented wire format, each builder below naming the section of the API reference it follows: OpenAI chat
/// completions (JSON, and SSE <c>data:</c> chunks ending in <c>data: [DONE]</c>, with <c>"usage":null</c> on every
/// chunk, not always last, and a final <c>"choices":[]</c> usage chunk when <c>stream_options.include_usage</c> is set),
/// the Responses API (<c>response.failed</c> after a 200) and Anthropic messages (JSON, and the message_start …
/// message_stop events with cumulative usage in message_delta; an <c>error</c> event after a 200). The requested model
/// picks the behaviour: <c>fail-400</c>/<c>-401</c>/<c>-429</c>/<c>-500</c>/<c>-503</c>/<c>-529</c> answer that status in
/// the provider's error format, <c>cut</c> breaks the stream midway, <c>hang</c> sends one event and waits until the
/// request is aborted, <c>error-midstream</c> (Anthropic) and <c>failed-midstream</c> (Responses) report an error
/// inside a started stream; a model ending in <c>-eol-cr</c> or <c>-eol-crlf</c> gets its stream with those line ends, in
/// small pieces (<see cref="LineEnd"/>). Tests script failures by key (<see cref="KeyStatus"/>), by model
/// (<see cref="ModelStatus"/>, <see cref="Script"/>), with Retry-After. Every request is recorded with its arrival time.
/// </summary>
internal sealed partial class FakeProvider : IAsyncDisposable
{
    public const string OpenAiText = "Hello from the fake";
    public const string AnthropicText = "Hello from the fake Claude";

    private readonly WebApplication _app;

    private FakeProvider(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>OpenAI-style base URL (ends in /v1).</summary>
    public Uri OpenAiBaseUrl => new(BaseUrl, "/v1");

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>Completes when a <c>hang</c> request sees its client go away.</summary>
    public TaskCompletionSource HangAborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>One request as the fake read it; <see cref="At"/> is the fake's own Stopwatch timestamp of its arrival.</summary>
    public sealed record Received(string Path, string? Authorization, string? ApiKey, string Body)
    {
        public long At { get; init; } = Stopwatch.GetTimestamp();

        /// <summary>The W3C traceparent header the request carried, if any.</summary>
        public string? TraceParent { get; init; }

        /// <summary>The provider key the request carried (Bearer or x-api-key).</summary>
        public string? Key => ApiKey ?? (Authorization is { } a && a.StartsWith("Bearer ", StringComparison.Ordinal) ? a[7..] : null);
    }

    /// <summary>A scripted failure: the status (in the provider's error format) and an optional Retry-After value.</summary>
    public sealed record Failure(int Status, string? RetryAfter = null);

    private readonly ConcurrentDictionary<string, ConcurrentQueue<Failure>> _scripts = new(StringComparer.Ordinal);

    /// <summary>Keys the fake refuses with the given status (e.g. 401 for a revoked key), whatever the model.</summary>
    public ConcurrentDictionary<string, int> KeyStatus { get; } = new(StringComparer.Ordinal);

    /// <summary>Models that always fail with the given status.</summary>
    public ConcurrentDictionary<string, int> ModelStatus { get; } = new(StringComparer.Ordinal);

    /// <summary>The next requests for <paramref name="model"/> get these failures in turn, then normal answers.</summary>
    public void Script(string model, params Failure[] failures) => _scripts[model] = new ConcurrentQueue<Failure>(failures);

    /// <summary>The requests that named <paramref name="model"/>, in arrival order.</summary>
    public List<Received> For(string model) => [.. Requests.Where(r => r.Body.Contains($"\"{model}\"", StringComparison.Ordinal))];

    public static async Task<FakeProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeProvider(app);
        app.MapPost("/v1/chat/completions", fake.ChatCompletionsAsync);
        app.MapGet("/v1/models", static (HttpContext c) =>
            c.Response.WriteAsync("""{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"openai"}]}""")
        );
        app.MapPost("/v1/messages", fake.MessagesAsync);
        app.MapPost("/v1/messages/count_tokens", fake.CountTokensAsync);
        fake.MapToolScripts(app);
        fake.MapGemini(app);
        fake.MapEmbeddings(app);
        await app.StartAsync();
        fake.BaseUrl = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
        return fake;
    }

    public Received Last(string path) => Requests.Last(r => r.Path == path);

    // ---- OpenAI ----

    public const string OpenAiUsage =
        """{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":"""
        + """{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":"""
        + """{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}""";

    public static string UsedModel(string model) => model + "-2024-08-06";

    /// <summary>
    /// The exact SSE body the fake sends for a chat stream. OpenAI API reference, Chat Completions › "The chat completion
    /// chunk object" and <c>stream_options</c>: with <c>include_usage</c>, "all other chunks will also include a usage
    /// field, but with a null value" and one more chunk with <c>"choices":[]</c> carries the usage; with
    /// <c>include_obfuscation</c> (on by default) every chunk carries an <c>obfuscation</c> field of random characters.
    /// JSON object members are unordered (RFC 8259 §4) and the reference fixes no order, so <c>usage</c> mostly comes
    /// before <c>obfuscation</c>, but first in one chunk (which also has a null <c>system_fingerprint</c>, nullable in
    /// the reference) and last in another. Without <c>include_usage</c> the chunks
    /// are the same minus the <c>"usage":null</c> members and the usage chunk: what a client that did not ask must get.
    /// </summary>
    public static string OpenAiStream(string model, bool includeUsage, int chunks = int.MaxValue)
    {
        var used = UsedModel(model);
        var usageNull = includeUsage ? "\"usage\":null," : "";
        string Fields(string choices) =>
            "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
            + used
            + "\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_1\",\"choices\":"
            + choices;
        string Choice(string delta, string finish) => "[{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]";
        string Chunk(string delta, string finish, string obfuscation) =>
            "data: {" + Fields(Choice(delta, finish)) + "," + usageNull + "\"obfuscation\":\"" + obfuscation + "\"}\n\n";
        string UsageFirst(string delta, string finish, string obfuscation) =>
            "data: {"
            + usageNull
            + Fields(Choice(delta, finish)).Replace("\"fp_1\"", "null", StringComparison.Ordinal)
            + ",\"obfuscation\":\""
            + obfuscation
            + "\"}\n\n";
        string UsageLast(string delta, string finish, string obfuscation) =>
            "data: {" + Fields(Choice(delta, finish)) + ",\"obfuscation\":\"" + obfuscation + "\"" + (includeUsage ? ",\"usage\":null" : "") + "}\n\n";
        var parts = new List<string>
        {
            Chunk("""{"role":"assistant","content":"","refusal":null}""", "null", "q7Xk"),
            Chunk("""{"content":"Hello"}""", "null", "Zb"),
            UsageFirst("""{"content":" from"}""", "null", "rT0pa"),
            Chunk("""{"content":" the fake"}""", "null", "x"),
            UsageLast("{}", "\"stop\"", "Lw3"),
        };
        if (includeUsage)
        {
            parts.Add("data: {" + Fields("[]") + ",\"usage\":" + OpenAiUsage + ",\"obfuscation\":\"m2\"}\n\n");
        }

        parts.Add("data: [DONE]\n\n");
        return string.Concat(parts.Take(chunks));
    }

    private async Task ChatCompletionsAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "/v1/chat/completions");
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var model = root.GetProperty("model").GetString()!;
        if (
            DualLlmRole(root, openAi: true) is null
            && (await FailAsync(context, Scripted(context, model), openAi: true) || await ToolCallScriptAsync(context, root, model, LlmApiShape.Chat))
        )
        {
            return;
        }

        if (DualLlmRole(root, openAi: true) is { } role)
        {
            context.Response.ContentType = "application/json";
            var payload = Script(role, body);
            await context.Response.WriteAsync(
                $$$"""{"id":"chatcmpl-d","object":"chat.completion","created":1700000000,"model":"{{{UsedModel(model)}}}","choices":["""
                    + """{"index":0,"message":"""
                    + $$$"""{"role":"assistant","content":{{{JsonSerializer.Serialize(payload)}}},"refusal":null,"annotations":"""
                    + $$$"""[]},"logprobs":null,"finish_reason":"stop"}],"usage":{{{OpenAiUsage}}}}"""
            );
            return;
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        if (await ToolCallAsync(context, root, model, stream, openAi: true))
        {
            return;
        }

        if (!stream)
        {
            context.Response.ContentType = "application/json";
            var answer =
                $$$"""{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"{{{UsedModel(model)}}}","choices":["""
                + $$$"""{"index":0,"message":{"role":"assistant","content":"{{{OpenAiText}}}","refusal":null,"annotations":"""
                + $$$"""[]},"logprobs":null,"finish_reason":"stop"}],"usage":{{{OpenAiUsage}}},"service_tier":"default","system_fingerprint":"fp_1"}""";
            if (model != "json-pieces")
            {
                await context.Response.WriteAsync(answer);
                return;
            }

            // The same answer in 7-byte pieces, each flushed (and spaced, so they arrive apart): names and numbers are
            // split across reads, as a slow connection delivers them.
            for (var i = 0; i < answer.Length; i += 7)
            {
                await context.Response.WriteAsync(answer.Substring(i, Math.Min(7, answer.Length - i)));
                await context.Response.Body.FlushAsync();
                await Task.Delay(2);
            }

            return;
        }

        if (model == "chat-error-midstream")
        {
            context.Response.ContentType = "text/event-stream; charset=utf-8";
            await context.Response.WriteAsync(ChatErrorStream);
            return;
        }

        if (model == "framing")
        {
            context.Response.ContentType = "text/event-stream; charset=utf-8";
            await context.Response.WriteAsync(FramingStream);
            return;
        }

        var includeUsage =
            root.TryGetProperty("stream_options", out var options)
            && options.ValueKind == JsonValueKind.Object
            && options.TryGetProperty("include_usage", out var iu)
            && iu.ValueKind == JsonValueKind.True;
        await StreamAsync(context, OpenAiStream(model, includeUsage), model);
    }

    /// <summary>
    /// A chat stream (asked with include_usage) framed in every way the event-stream format allows (WHATWG HTML
    /// § 9.2.6, "Interpreting an event stream"): CRLF line ends, a <c>data:</c> field without the optional space, and
    /// events whose data spans several <c>data:</c> lines, joined with LF (one of them the usage chunk).
    /// </summary>
    public const string FramingStream =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\"choices\":[{\"index\":0,"
        + "\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
        + "data:{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\"usage\":null,\"choices\":[{\"index\":0,"
        + "\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n"
        + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\ndata: "
        + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\r\n\r\n"
        + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\"choices\":[],\ndata: \"usage\":"
        + OpenAiUsage
        + "}\n\n"
        + "data: [DONE]\r\n\r\n";

    /// <summary>
    /// A chat stream that fails after a 200: two chunks, then an event whose data is the API's error object
    /// (OpenAI API reference › Error codes: <c>{"error":{"message","type","param","code"}}</c>), and nothing more. The
    /// reference does not show this case; the official SDK does handle it (openai-python <c>_streaming.py</c>: an
    /// event with an <c>error</c> member raises <c>APIError</c> "An error occurred during streaming").
    /// </summary>
    public const string ChatErrorStream =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"chat-error-midstream\",\"system_fingerprint\":null,"
        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
        + "data: {\"error\":{\"message\":\"The server had an error while processing your "
        + "request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";

    // ---- Anthropic ----

    public const string AnthropicModel = "claude-sonnet-4-5-20250929";

    /// <summary>
    /// Anthropic API reference, Messages › Streaming messages ("Event types", "Raw HTTP stream response") and the
    /// <c>MessageDeltaUsage</c> schema: message_start carries the usage so far; message_delta's usage is cumulative and
    /// carries <c>input_tokens</c>, <c>cache_creation_input_tokens</c> and <c>cache_read_input_tokens</c> as well as
    /// <c>output_tokens</c>, so a reader that added them up would count the input twice. <paramref name="deltaInput"/>
    /// is message_delta's cumulative <c>input_tokens</c>: above message_start's 20 when server tools ran mid-answer.
    /// <c>error-midstream</c>: "Error events" in the same section: after a 200, an <c>event: error</c> (here
    /// <c>overloaded_error</c>, which "would normally correspond to an HTTP 529") and nothing more.
    /// </summary>
    public static string AnthropicStream(int events = int.MaxValue, int deltaInput = 20, bool errorMidstream = false)
    {
        string Event(string name, string data) => $"event: {name}\ndata: {data}\n\n";
        var parts = new List<string>
        {
            Event(
                "message_start",
                (
                    """{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"MODEL","content":"""
                    + """[],"stop_reason":null,"stop_sequence":null,"usage":"""
                    + """{"input_tokens":20,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"output_tokens":1}}}"""
                ).Replace("MODEL", AnthropicModel, StringComparison.Ordinal)
            ),
            Event("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
            Event("ping", """{"type": "ping"}"""),
            Event("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello from"}}"""),
        };
        if (errorMidstream)
        {
            parts.Add(Event("error", AnthropicOverloadedEvent));
            return string.Concat(parts.Take(events));
        }

        parts.AddRange([
            Event("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the fake Claude"}}"""),
            Event("content_block_stop", """{"type":"content_block_stop","index":0}"""),
            Event(
                "message_delta",
                (
                    """{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":"""
                    + """{"input_tokens":INPUT,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"output_tokens":9}}"""
                ).Replace("INPUT", deltaInput.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            ),
            Event("message_stop", """{"type":"message_stop"}"""),
        ]);
        return string.Concat(parts.Take(events));
    }

    /// <summary>The data of the <c>error</c> event <c>error-midstream</c> ends with (Anthropic: Streaming messages › Error events).</summary>
    public const string AnthropicOverloadedEvent = """{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""";

    private async Task MessagesAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "/v1/messages");
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var model = root.GetProperty("model").GetString()!;
        if (
            DualLlmRole(root, openAi: false) is null
            && (await FailAsync(context, Scripted(context, model), openAi: false) || await ToolCallScriptAsync(context, root, model, LlmApiShape.Anthropic))
        )
        {
            return;
        }

        context.Response.Headers["request-id"] = "req_fake_1";
        if (DualLlmRole(root, openAi: false) is { } role)
        {
            // The forced tool's input when the payload is a JSON object, as Claude answers a forced tool_choice; else text.
            var payload = Script(role, body);
            var isObject = payload.TrimStart().StartsWith('{') && IsJson(payload);
            var forced = isObject ? root.GetProperty("tool_choice").GetProperty("name").GetString() : null;
            var block = isObject
                ? $$$"""{"type":"tool_use","id":"toolu_d","name":"{{{forced}}}","input":{{{payload}}}}"""
                : $$$"""{"type":"text","text":{{{JsonSerializer.Serialize(payload)}}}}""";
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                $$$"""{"id":"msg_d","type":"message","role":"assistant","model":"{{{model}}}","content":"""
                    + $$$"""[{{{block}}}],"stop_reason":"{{{(isObject ? "tool_use" : "end_turn")}}}","stop_sequence":null,"usage":"""
                    + """{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":9}}"""
            );
            return;
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        if (await ToolCallAsync(context, root, model, stream, openAi: false))
        {
            return;
        }

        if (!stream)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                $$$"""{"id":"msg_1","type":"message","role":"assistant","model":"{{{AnthropicModel}}}","content":["""
                    + $$$"""{"type":"text","text":"{{{AnthropicText}}}"}],"stop_reason":"end_turn","stop_sequence":null,"usage":"""
                    + """{"input_tokens":20,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"output_tokens":9}}"""
            );
            return;
        }

        var deltaInput = model.StartsWith("claude-server-tools", StringComparison.Ordinal) ? 26 : 20;
        await StreamAsync(context, AnthropicStream(deltaInput: deltaInput, errorMidstream: model == "error-midstream"), model);
    }

    private async Task CountTokensAsync(HttpContext context)
    {
        await ReadAsync(context, "/v1/messages/count_tokens");
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync("""{"input_tokens":42}""");
    }

    // ---- dual LLM ----

    /// <summary>
    /// Plays both dual-LLM roles: given the role (<c>question</c> for the main model, <c>answer</c> for the
    /// quarantined one) and the request body, returns the JSON (or text) the model writes. Null: the role's
    /// requests fail with 500.
    /// </summary>
    public Func<string, string, string>? DualLlmScript { get; set; }

    /// <summary>The role of a dual-LLM request: its strict json_schema (OpenAI) or forced tool (Anthropic) names it.</summary>
    private static string? DualLlmRole(JsonElement root, bool openAi)
    {
        string? name = null;
        if (openAi && root.TryGetProperty("response_format", out var format) && format.TryGetProperty("json_schema", out var schema))
        {
            name = schema.GetProperty("name").GetString();
        }
        else if (!openAi && root.TryGetProperty("tool_choice", out var choice) && choice.TryGetProperty("name", out var tool))
        {
            name = tool.GetString();
        }

        return name switch
        {
            "ask_question" => "question",
            "answer" => "answer",
            _ => null,
        };
    }

    private string Script(string role, string body) => DualLlmScript?.Invoke(role, body) ?? throw new InvalidOperationException("no dual-LLM script");

    private static bool IsJson(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    // ---- shared ----

    private async Task<string> ReadAsync(HttpContext context, string path)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var received = new Received(
            path,
            context.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null,
            context.Request.Headers["x-api-key"].ToString() is { Length: > 0 } k ? k
                : context.Request.Headers["x-goog-api-key"].ToString() is { Length: > 0 } g ? g
                : null,
            body
        )
        {
            TraceParent = context.Request.Headers["traceparent"].ToString() is { Length: > 0 } t ? t : null,
        };
        context.Items[typeof(Received)] = received;
        Requests.Enqueue(received);
        return body;
    }

    /// <summary>Writes the stream event by event, flushing each; <c>cut</c> aborts midway, <c>hang</c> waits for the client to leave.</summary>
    private async Task StreamAsync(HttpContext context, string sse, string model)
    {
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        if (LineEnd(model) is { } lineEnd)
        {
            await WriteChoppedAsync(context, sse.Replace("\n", lineEnd, StringComparison.Ordinal));
            return;
        }

        var events = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < events.Length; i++)
        {
            if (model == "cut" && i == 3)
            {
                // Let the events already sent reach the proxy first: a reset can discard data still unread in the socket.
                await Task.Delay(200);
                context.Abort();
                return;
            }

            await context.Response.WriteAsync(events[i] + "\n\n");
            await context.Response.Body.FlushAsync();
            if (model == "hang")
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    HangAborted.TrySetResult();
                }

                return;
            }
        }
    }

    /// <summary>The scripted failure for this request (by key, then by model), as a <c>fail-NNN</c> model name; else the model.</summary>
    private string Scripted(HttpContext context, string model)
    {
        var key = ((Received)context.Items[typeof(Received)]!).Key;
        string? retryAfter = null;
        int status;
        if (key is not null && KeyStatus.TryGetValue(key, out var byKey))
        {
            status = byKey;
        }
        else if (ModelStatus.TryGetValue(model, out var byModel))
        {
            status = byModel;
        }
        else if (_scripts.TryGetValue(model, out var queue) && queue.TryDequeue(out var next))
        {
            (status, retryAfter) = (next.Status, next.RetryAfter);
        }
        else
        {
            return model;
        }

        if (retryAfter is not null)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        return $"fail-{status}";
    }

    /// <summary>
    /// Error answers in each API's documented shape: OpenAI API reference › Error codes (<c>{"error":{"message","type",
    /// "param","code"}}</c>, 429 with Retry-After); Anthropic › Errors (<c>{"type":"error","error":{"type","message"},
    /// "request_id"}</c>; 429 rate_limit_error, 500 api_error, 529 overloaded_error).
    /// </summary>
    private static async Task<bool> FailAsync(HttpContext context, string model, bool openAi)
    {
        (int Status, string OpenAiType, string? Code, string AnthropicType, string Message)? failure = model switch
        {
            "fail-400" => (400, "invalid_request_error", null, "invalid_request_error", "messages: field required"),
            "fail-401" => (401, "invalid_request_error", "invalid_api_key", "authentication_error", "invalid x-api-key"),
            "fail-429" => (429, "requests", "rate_limit_exceeded", "rate_limit_error", "Rate limit reached for requests"),
            "fail-500" => (500, "server_error", null, "api_error", "The server had an error while processing your request."),
            // OpenAI: Error codes › 503 "Slow Down" / engine overloaded. Anthropic: Errors › HTTP errors: 529
            // overloaded_error "the API is temporarily overloaded" (Anthropic has no documented 503).
            "fail-503" => (503, "server_error", null, "overloaded_error", "The engine is currently overloaded."),
            "fail-529" => (529, "server_error", null, "overloaded_error", "Overloaded"),
            _ => null,
        };
        if (failure is not { } f)
        {
            return false;
        }

        context.Response.StatusCode = f.Status;
        context.Response.ContentType = "application/json";
        if (f.Status == 429 && !context.Response.Headers.ContainsKey("Retry-After"))
        {
            context.Response.Headers.RetryAfter = "7";
        }

        var code = f.Code is null ? "null" : $"\"{f.Code}\"";
        await context.Response.WriteAsync(
            openAi
                ? """{"error":{"message":"MESSAGE","type":"TYPE","param":null,"code":CODE}}"""
                    .Replace("MESSAGE", f.Message, StringComparison.Ordinal)
                    .Replace("TYPE", f.OpenAiType, StringComparison.Ordinal)
                    .Replace("CODE", code, StringComparison.Ordinal)
                : $$$"""{"type":"error","error":{"type":"{{{f.AnthropicType}}}","message":"{{{f.Message}}}"},"request_id":"req_fake_err"}"""
        );
        return true;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
