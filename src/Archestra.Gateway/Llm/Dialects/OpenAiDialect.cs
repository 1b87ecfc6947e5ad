using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy.Llm;

namespace Archestra.Gateway.Llm.Dialects;

/// <summary>
/// What OpenAI's chat completions and Responses APIs share: the routes under <c>/v1/openai/{profile}</c>, the
/// <c>Authorization: Bearer</c> key, the error body <c>{"error":{"message","type","param","code"}}</c> (API reference,
/// "Error codes"), usage with cached and reasoning details, and <c>data: [DONE]</c>.
/// </summary>
internal abstract class OpenAiDialect : LlmDialect
{
    public override LlmProviderKind Kind => LlmProviderKind.OpenAi;

    public override string ProviderName => "openai";

    public override string ServedEndpoints => "POST /chat/completions, POST /responses, POST /embeddings, GET /models";

    public override LlmEndpoint Resolve(string rest, string method, out bool methodOk)
    {
        methodOk = true;
        if (rest is "chat/completions" or "responses")
        {
            methodOk = HttpMethods.IsPost(method);
            return methodOk ? LlmEndpoint.Generation : LlmEndpoint.Unknown;
        }

        if (rest == "embeddings")
        {
            methodOk = HttpMethods.IsPost(method);
            return methodOk ? LlmEndpoint.Embeddings : LlmEndpoint.Unknown;
        }

        if (rest == "models" || (rest.StartsWith("models/", StringComparison.Ordinal) && rest.IndexOf('/', 7) < 0))
        {
            methodOk = HttpMethods.IsGet(method);
            return methodOk ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
        }

        return LlmEndpoint.Unknown;
    }

    public override ReadOnlySpan<char> ClientKey(HttpRequest request) => BearerToken(request);

    public override string UnauthorizedMessage(string profile) =>
        $"Incorrect API key provided for profile '{profile}': use one of its virtual keys as the API key.";

    public override void AddKey(HttpRequestMessage message, string key) =>
        message.Headers.TryAddWithoutValidation("Authorization", string.Concat("Bearer ", key));

    public override void WriteError(Utf8JsonWriter writer, HttpResponse response, LlmError error, string message)
    {
        var map = LlmErrors.Map(error);
        if (error == LlmError.Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"archestra\"";
        }

        writer.WriteStartObject();
        writer.WriteStartObject("error"u8);
        writer.WriteString("message"u8, message);
        writer.WriteString("type"u8, map.OpenAiType);
        writer.WriteNull("param"u8);
        if (map.OpenAiCode is null)
        {
            writer.WriteNull("code"u8);
        }
        else
        {
            writer.WriteString("code"u8, map.OpenAiCode);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    public override Usage ToUsage(in LlmUsage usage) => Usage.FromOpenAi(usage.Input, usage.Output, usage.CachedDetail, usage.Reasoning);

    public override bool IsDoneMarker(ReadOnlySpan<byte> data) => data.SequenceEqual("[DONE]"u8);

    // A chat chunk carries output when it has choices (the usage chunk has none); Responses events say so by type.
    public override bool IsToken(LlmJsonScanner scanner) => scanner.ChoicesSeen ? scanner.ChoicesCount > 0 : scanner.EventType == LlmEventType.Token;

    public override string StreamEndedEarly => "the stream ended without data: [DONE]";

    /// <summary>The token of <c>Authorization: Bearer</c>; empty when there is none.</summary>
    internal static ReadOnlySpan<char> BearerToken(HttpRequest request)
    {
        var authorization = request.Headers.Authorization;
        if (authorization.Count != 1)
        {
            return default;
        }

        var value = authorization[0].AsSpan();
        return value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value[7..].Trim() : default;
    }
}

/// <summary>OpenAI <c>POST /chat/completions</c>: the only API with <c>stream_options.include_usage</c>.</summary>
internal sealed class OpenAiChatDialect : OpenAiDialect
{
    public override LlmApi Api => LlmApi.ChatCompletions;

    public override bool AsksForUsage => true;

    public override (string What, string CallIdKey) ResultNames => ("a tool message", "tool_call_id");

    public override string ResultContentError(string at, bool functionMessage) =>
        $"{at}.content of a {(functionMessage ? "function" : "tool")} message must be a string or an array of content parts";

    // "tool" is the role value; "function" the legacy role.
    public override bool HasResultMarker(ReadOnlySpan<byte> body) => body.IndexOf("\"tool\""u8) >= 0 || body.IndexOf("\"function\""u8) >= 0;

    public override bool IsResultOf(JsonElement item, string callId) => Str(item, "role"u8) == "tool" && Str(item, "tool_call_id"u8) == callId;

    /// <summary>An assistant message's <c>tool_calls[*].function.arguments</c>.</summary>
    public override string? CallArguments(JsonElement item, string callId)
    {
        if (item.TryGetProperty("tool_calls"u8, out var calls) && calls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in calls.EnumerateArray())
            {
                if (
                    call.ValueKind == JsonValueKind.Object
                    && Str(call, "id"u8) == callId
                    && call.TryGetProperty("function"u8, out var function)
                    && function.ValueKind == JsonValueKind.Object
                )
                {
                    return Str(function, "arguments"u8);
                }
            }
        }

        return null;
    }

    public override string SideCallPath(string model) => "/chat/completions";

    /// <summary><c>response_format</c> with a strict <c>json_schema</c> (Structured Outputs).</summary>
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
        writer.WriteStartArray("messages"u8);
        WriteMessage(writer, "system", system);
        WriteMessage(writer, "user", user);
        writer.WriteEndArray();
        writer.WriteStartObject("response_format"u8);
        writer.WriteString("type"u8, "json_schema"u8);
        writer.WriteStartObject("json_schema"u8);
        writer.WriteString("name"u8, tool);
        writer.WriteBoolean("strict"u8, true);
        writer.WriteStartObject("schema"u8);
        schema(writer, count);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary><c>choices[0].message.content</c>.</summary>
    public override string? StructuredReply(JsonElement root, string tool) =>
        root.TryGetProperty("choices"u8, out var choices)
        && choices.ValueKind == JsonValueKind.Array
        && choices.GetArrayLength() > 0
        && choices[0].TryGetProperty("message"u8, out var message)
        && message.ValueKind == JsonValueKind.Object
        && message.TryGetProperty("content"u8, out var content)
        && content.ValueKind == JsonValueKind.String
            ? content.GetString()
            : null;
}

/// <summary>OpenAI <c>POST /responses</c>: usage always comes in the final <c>response.completed</c> event.</summary>
internal sealed class OpenAiResponsesDialect : OpenAiDialect
{
    public override LlmApi Api => LlmApi.Responses;

    public override string HistoryList => "input";

    public override bool HistoryMayBeText => true;

    public override (string What, string CallIdKey) ResultNames => ("a function_call_output", "call_id");

    public override string ResultContentError(string at, bool functionMessage) => $"{at}.output must be a string or an array of content parts";

    public override bool HasResultMarker(ReadOnlySpan<byte> body) => body.IndexOf("_call_output"u8) >= 0;

    public override bool IsResultOf(JsonElement item, string callId) => Str(item, "type"u8) == "function_call_output" && Str(item, "call_id"u8) == callId;

    public override string? CallArguments(JsonElement item, string callId) =>
        Str(item, "type"u8) == "function_call" && Str(item, "call_id"u8) == callId ? Str(item, "arguments"u8) : null;
}
