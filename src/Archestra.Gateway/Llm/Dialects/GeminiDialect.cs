using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy.Llm;

namespace Archestra.Gateway.Llm.Dialects;

/// <summary>
/// The Gemini API under <c>/v1/gemini/{profile}</c> (ai.google.dev/api, "Generating content"): <c>POST
/// {v1|v1beta}/models/{model}:generateContent</c> and <c>:streamGenerateContent</c> (with <c>alt=sse</c>: one
/// <c>GenerateContentResponse</c> per <c>data:</c> event, no end marker), <c>:countTokens</c>, <c>GET .../models</c>. The
/// model is named in the path, the key comes as <c>x-goog-api-key</c> or <c>?key=</c>, usage as <c>usageMetadata</c>,
/// tool calls as <c>functionCall</c> parts and results as <c>functionResponse</c> parts of <c>contents[*].parts</c>,
/// errors as <c>{"error":{"code","message","status"}}</c> (Google API design guide, "Errors").
/// </summary>
internal sealed class GeminiDialect : LlmDialect
{
    public override LlmProviderKind Kind => LlmProviderKind.Gemini;

    public override LlmApi Api => LlmApi.GenerateContent;

    public override string ProviderName => "gemini";

    public override string ServedEndpoints => "POST /{v1|v1beta}/models/{model}:generateContent, :streamGenerateContent, :countTokens, GET /{v1|v1beta}/models";

    public override LlmEndpoint Resolve(string rest, string method, out bool methodOk)
    {
        methodOk = true;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || rest.AsSpan(0, slash) is not ("v1" or "v1beta"))
        {
            return LlmEndpoint.Unknown;
        }

        var path = rest.AsSpan(slash + 1);
        if (path.SequenceEqual("models"))
        {
            methodOk = HttpMethods.IsGet(method);
            return methodOk ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
        }

        if (!path.StartsWith("models/") || path[7..].IndexOf('/') >= 0 || path.Length == 7)
        {
            return LlmEndpoint.Unknown;
        }

        var colon = path.IndexOf(':');
        if (colon < 0)
        {
            methodOk = HttpMethods.IsGet(method);
            return methodOk ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
        }

        var action = path[(colon + 1)..];
        if (colon == 7 || action is not ("generateContent" or "streamGenerateContent" or "countTokens"))
        {
            return LlmEndpoint.Unknown;
        }

        methodOk = HttpMethods.IsPost(method);
        return !methodOk ? LlmEndpoint.Unknown
            : action.SequenceEqual("countTokens") ? LlmEndpoint.Plain
            : LlmEndpoint.Generation;
    }

    /// <summary>The model a path names (<c>v1beta/models/gemini-2.5-flash:generateContent</c>); null when it names none.</summary>
    public override string? ModelInPath(string rest)
    {
        var at = rest.IndexOf("/models/", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var model = rest.AsSpan(at + 8);
        var colon = model.IndexOf(':');
        return (colon < 0 ? model : model[..colon]).ToString();
    }

    /// <summary>The path with its model replaced by <paramref name="model"/> (an optimization rule's target).</summary>
    public override string WithModelInPath(string rest, string model)
    {
        var at = rest.IndexOf("/models/", StringComparison.Ordinal) + 8;
        var colon = rest.IndexOf(':', at);
        return string.Concat(rest.AsSpan(0, at), Uri.EscapeDataString(model), colon < 0 ? "" : rest.AsSpan(colon));
    }

    // The SDK sends x-goog-api-key; the REST docs also show ?key=.
    public override ReadOnlySpan<char> ClientKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue("x-goog-api-key", out var header) && header.Count == 1)
        {
            return header[0].AsSpan().Trim();
        }

        return request.Query.TryGetValue("key", out var query) && query.Count == 1 ? query[0].AsSpan().Trim() : default;
    }

    public override string UnauthorizedMessage(string profile) =>
        $"API key not valid for profile '{profile}': use one of its virtual keys as the API key (x-goog-api-key or ?key=).";

    public override void AddKey(HttpRequestMessage message, string key) => message.Headers.TryAddWithoutValidation("x-goog-api-key", key);

    public override bool IsClientKeyHeader(string name) => name.Equals("x-goog-api-key", StringComparison.OrdinalIgnoreCase);

    public override bool KeyInQuery => true;

    public override void WriteError(Utf8JsonWriter writer, HttpResponse response, LlmError error, string message)
    {
        var status = LlmErrors.Map(error).Status;
        writer.WriteStartObject();
        writer.WriteStartObject("error"u8);
        writer.WriteNumber("code"u8, status);
        writer.WriteString("message"u8, message);
        writer.WriteString("status"u8, StatusName(status));
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>The canonical code Google's APIs pair with an HTTP status (google.rpc.Code, "HTTP Mapping").</summary>
    internal static string StatusName(int status) =>
        status switch
        {
            400 or 413 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            405 => "UNIMPLEMENTED",
            408 or 504 => "DEADLINE_EXCEEDED",
            429 => "RESOURCE_EXHAUSTED",
            502 or 503 => "UNAVAILABLE",
            _ => "INTERNAL",
        };

    // promptTokenCount includes cachedContentTokenCount; thoughtsTokenCount is billed as output beside candidatesTokenCount.
    public override Usage ToUsage(in LlmUsage usage) => Usage.FromOpenAi(usage.Input, usage.AllOutput, usage.CachedDetail, usage.AllReasoning);

    // ---- the history: contents[*].parts[*] ----

    public override string HistoryList => "contents";

    public override bool ResultsInParts => true;

    public override (string What, string CallIdKey) ResultNames => ("a functionResponse", "name");

    public override string ResultContentError(string at, bool functionMessage) => $"{at}.functionResponse.response must be an object";

    public override bool HasResultMarker(ReadOnlySpan<byte> body) => body.IndexOf("functionResponse"u8) >= 0;

    public override bool IsResultOf(JsonElement item, string callId) => Part(item, "functionResponse"u8, callId).ValueKind == JsonValueKind.Object;

    public override string? CallArguments(JsonElement item, string callId) =>
        Part(item, "functionCall"u8, callId) is { ValueKind: JsonValueKind.Object } call && call.TryGetProperty("args"u8, out var args)
            ? args.GetRawText()
            : null;

    /// <summary>
    /// The call id the proxy gives a <c>functionCall</c> or <c>functionResponse</c>: its <c>id</c> when it has one, else its
    /// <c>name</c> (the Gemini API pairs a response with its call by name; ids are optional).
    /// </summary>
    internal static string CallId(string? id, string? name) => id ?? name ?? "";

    /// <summary>The <paramref name="kind"/> object of a content's parts whose call id is <paramref name="callId"/>; default when none.</summary>
    private static JsonElement Part(JsonElement content, ReadOnlySpan<byte> kind, string callId)
    {
        if (content.TryGetProperty("parts"u8, out var parts) && parts.ValueKind == JsonValueKind.Array)
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (
                    part.ValueKind == JsonValueKind.Object
                    && part.TryGetProperty(kind, out var value)
                    && value.ValueKind == JsonValueKind.Object
                    && CallId(Str(value, "id"u8), Str(value, "name"u8)) == callId
                )
                {
                    return value;
                }
            }
        }

        return default;
    }

    /// <summary>A result's new content: <c>response</c> must stay an object, so the text goes in its <c>output</c> or <c>error</c> field.</summary>
    public override byte[] ResultReplacement(string text, bool withheld) =>
        [.. withheld ? "{\"error\":"u8 : "{\"output\":"u8, .. LlmBodyEdits.Quote(text), (byte)'}'];

    // ---- streams ----

    // A candidate with a finishReason is the last content of the answer; the stream then ends with the connection.
    public override bool IsToken(LlmJsonScanner scanner) => scanner.ChoicesCount > 0;

    public override string StreamEndedEarly => "the stream ended without a finishReason";

    // ---- side calls (the dual-LLM quarantine) ----

    public override bool ModelInBody => false;

    public override string SideCallPath(string model) => $"/v1beta/models/{Uri.EscapeDataString(model)}:generateContent";

    /// <summary><c>responseMimeType</c> <c>application/json</c> with <c>responseJsonSchema</c> (Gemini API, "Structured output").</summary>
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
        writer.WriteStartObject("systemInstruction"u8);
        WriteTextParts(writer, system);
        writer.WriteEndObject();
        writer.WriteStartArray("contents"u8);
        writer.WriteStartObject();
        writer.WriteString("role"u8, "user"u8);
        WriteTextParts(writer, user);
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteStartObject("generationConfig"u8);
        writer.WriteString("responseMimeType"u8, "application/json"u8);
        writer.WriteStartObject("responseJsonSchema"u8);
        schema(writer, count);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteTextParts(Utf8JsonWriter writer, string text)
    {
        writer.WriteStartArray("parts"u8);
        writer.WriteStartObject();
        writer.WriteString("text"u8, text);
        writer.WriteEndObject();
        writer.WriteEndArray();
    }

    /// <summary>The text parts of <c>candidates[0].content</c>, joined (thought parts left out).</summary>
    public override string? StructuredReply(JsonElement root, string tool)
    {
        if (
            !root.TryGetProperty("candidates"u8, out var candidates)
            || candidates.ValueKind != JsonValueKind.Array
            || candidates.GetArrayLength() == 0
            || !candidates[0].TryGetProperty("content"u8, out var content)
            || content.ValueKind != JsonValueKind.Object
            || !content.TryGetProperty("parts"u8, out var parts)
            || parts.ValueKind != JsonValueKind.Array
        )
        {
            return null;
        }

        StringBuilder? text = null;
        foreach (var part in parts.EnumerateArray())
        {
            if (
                part.ValueKind == JsonValueKind.Object
                && !(part.TryGetProperty("thought"u8, out var thought) && thought.ValueKind == JsonValueKind.True)
                && Str(part, "text"u8) is { } t
            )
            {
                (text ??= new StringBuilder()).Append(t);
            }
        }

        return text?.ToString();
    }
}
