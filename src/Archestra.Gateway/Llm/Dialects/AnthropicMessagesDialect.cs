using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy.Llm;

namespace Archestra.Gateway.Llm.Dialects;

/// <summary>
/// Anthropic <c>POST /v1/messages</c> under <c>/v1/anthropic/{profile}</c>: the <c>x-api-key</c> header, the error body
/// <c>{"type":"error","error":{"type","message"}}</c> (docs "Errors"), usage with cache reads and writes, and the
/// documented in-stream <c>error</c> event (Messages › Streaming messages, "Error events").
/// </summary>
internal sealed class AnthropicMessagesDialect : LlmDialect
{
    public override LlmProviderKind Kind => LlmProviderKind.Anthropic;

    public override LlmApi Api => LlmApi.Messages;

    public override string ProviderName => "anthropic";

    public override string ServedEndpoints => "POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models";

    public override LlmEndpoint Resolve(string rest, string method, out bool methodOk)
    {
        methodOk = true;
        if (rest is "v1/messages" or "v1/messages/count_tokens")
        {
            methodOk = HttpMethods.IsPost(method);
            return !methodOk ? LlmEndpoint.Unknown
                : rest == "v1/messages" ? LlmEndpoint.Generation
                : LlmEndpoint.Plain;
        }

        if (rest == "v1/models" || (rest.StartsWith("v1/models/", StringComparison.Ordinal) && rest.IndexOf('/', 10) < 0))
        {
            methodOk = HttpMethods.IsGet(method);
            return methodOk ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
        }

        return LlmEndpoint.Unknown;
    }

    // The SDKs send x-api-key; a bearer token is taken too.
    public override ReadOnlySpan<char> ClientKey(HttpRequest request) =>
        request.Headers.TryGetValue("x-api-key", out var apiKey) && apiKey.Count == 1 ? apiKey[0].AsSpan().Trim() : OpenAiDialect.BearerToken(request);

    public override string UnauthorizedMessage(string profile) => $"invalid x-api-key for profile '{profile}': use one of its virtual keys as the API key.";

    public override void AddKey(HttpRequestMessage message, string key) => message.Headers.TryAddWithoutValidation("x-api-key", key);

    public override void WriteError(Utf8JsonWriter writer, HttpResponse response, LlmError error, string message)
    {
        var map = LlmErrors.Map(error);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "error"u8);
        writer.WriteStartObject("error"u8);
        writer.WriteString("type"u8, map.AnthropicType);
        writer.WriteString("message"u8, message);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    public override Usage ToUsage(in LlmUsage usage) => Usage.FromAnthropic(usage.Input, usage.Output, usage.CacheRead, usage.CacheCreation);

    public override bool ResultsInContentBlocks => true;

    public override (string What, string CallIdKey) ResultNames => ("a tool_result", "tool_use_id");

    public override bool ResultContentOptional => true;

    public override string ResultContentError(string at, bool functionMessage) => $"{at}.content must be a string or an array of content blocks";

    public override bool HasResultMarker(ReadOnlySpan<byte> body) => body.IndexOf("tool_result"u8) >= 0;

    public override bool IsResultOf(JsonElement item, string callId) =>
        Block(item, "tool_result", "tool_use_id"u8, callId).ValueKind != JsonValueKind.Undefined;

    public override string? CallArguments(JsonElement item, string callId) =>
        Block(item, "tool_use", "id"u8, callId) is { ValueKind: JsonValueKind.Object } block && block.TryGetProperty("input"u8, out var input)
            ? input.GetRawText()
            : null;

    /// <summary>
    /// The <paramref name="type"/> block of a message's <c>content</c> whose <paramref name="idKey"/> is <paramref name="id"/>; default
    /// when none.
    /// </summary>
    private static JsonElement Block(JsonElement item, string type, ReadOnlySpan<byte> idKey, string id)
    {
        if (item.TryGetProperty("content"u8, out var blocks) && blocks.ValueKind == JsonValueKind.Array)
        {
            foreach (var block in blocks.EnumerateArray())
            {
                if (block.ValueKind == JsonValueKind.Object && Str(block, "type"u8) == type && Str(block, idKey) == id)
                {
                    return block;
                }
            }
        }

        return default;
    }

    public override bool IsToken(LlmJsonScanner scanner) => scanner.EventType == LlmEventType.Token;

    public override string StreamEndedEarly => "the stream ended without its final event";

    public override ReadOnlySpan<byte> StreamCutEvent =>
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the upstream stream ended before message_stop\"}}\n\n"u8;

    public override string SideCallPath(string model) => "/v1/messages";

    // The version the client speaks when it speaks Anthropic's API; else the one the side calls were written for.
    public override void AddSideCallHeaders(HttpRequestMessage message, IHeaderDictionary? client) =>
        message.Headers.TryAddWithoutValidation("anthropic-version", client?["anthropic-version"] is { Count: 1 } version ? version[0] : "2023-06-01");

    /// <summary>The schema as the only tool, forced with <c>tool_choice</c>; <c>max_tokens</c> is required.</summary>
    public override void WriteStructuredRequest(
        Utf8JsonWriter writer,
        string system,
        string user,
        string tool,
        string toolDescription,
        Action<Utf8JsonWriter, int> schema,
        int count
    )
    {
        // Enough for a question with its options; an answer needs a few tokens.
        writer.WriteNumber("max_tokens"u8, 1024);
        writer.WriteString("system"u8, system);
        writer.WriteStartArray("messages"u8);
        WriteMessage(writer, "user", user);
        writer.WriteEndArray();
        writer.WriteStartArray("tools"u8);
        writer.WriteStartObject();
        writer.WriteString("name"u8, tool);
        writer.WriteString("description"u8, toolDescription);
        writer.WriteStartObject("input_schema"u8);
        schema(writer, count);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteStartObject("tool_choice"u8);
        writer.WriteString("type"u8, "tool"u8);
        writer.WriteString("name"u8, tool);
        writer.WriteEndObject();
    }

    /// <summary>The <c>input</c> of the forced <c>tool_use</c> block (or, from a server that ignores tools, a text block that is JSON).</summary>
    public override string? StructuredReply(JsonElement root, string tool)
    {
        if (!root.TryGetProperty("content"u8, out var blocks) || blocks.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        string? json = null;
        foreach (var block in blocks.EnumerateArray())
        {
            var type = block.TryGetProperty("type"u8, out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type == "tool_use" && block.TryGetProperty("name"u8, out var name) && name.ValueEquals(tool) && block.TryGetProperty("input"u8, out var input))
            {
                return input.GetRawText();
            }

            if (type == "text" && json is null && block.TryGetProperty("text"u8, out var text) && text.ValueKind == JsonValueKind.String)
            {
                json = text.GetString();
            }
        }

        return json;
    }
}
