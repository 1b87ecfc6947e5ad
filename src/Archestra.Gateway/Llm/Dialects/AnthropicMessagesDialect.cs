using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy.Llm;
using Microsoft.AspNetCore.Http;

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
            return !methodOk ? LlmEndpoint.Unknown : rest == "v1/messages" ? LlmEndpoint.Generation : LlmEndpoint.Plain;
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

    public override string UnauthorizedMessage(string profile) =>
        $"invalid x-api-key for profile '{profile}': use one of its virtual keys as the API key.";

    public override void AddKey(HttpRequestMessage message, string key) => message.Headers.TryAddWithoutValidation("x-api-key", key);

    public override void WriteError(Utf8JsonWriter writer, HttpResponse response, LlmError error, (int Status, string OpenAiType, string? OpenAiCode, string AnthropicType) map, string message)
    {
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

    public override bool IsToken(LlmJsonScanner scanner) => scanner.EventType == LlmEventType.Token;

    public override string StreamEndedEarly => "the stream ended without its final event";

    public override ReadOnlySpan<byte> StreamCutEvent =>
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the upstream stream ended before message_stop\"}}\n\n"u8;
}
