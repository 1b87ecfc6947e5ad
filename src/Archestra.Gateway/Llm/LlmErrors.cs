using System.Text.Json;
using Archestra.Gateway.Configuration;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Llm;

/// <summary>Failures the proxy itself answers (the upstream's own errors are relayed as they are).</summary>
internal enum LlmError
{
    UnknownProfile,
    NotOffered,
    UnknownEndpoint,
    MethodNotAllowed,
    Unauthorized,
    ForbiddenOrigin,
    BadRequest,
    TooLarge,

    /// <summary>The request body arrived slower than <c>limits.minRequestBodyBytesPerSecond</c>.</summary>
    RequestTimeout,
    UpstreamUnreachable,
    UpstreamTimeout,

    /// <summary>The provider answered with JSON the proxy cannot decide on (a repeated key, invalid UTF-8): not relayed.</summary>
    UpstreamProtocol,

    /// <summary>A limit of the profile is used up; refused before the upstream.</summary>
    BudgetExceeded,

    /// <summary>Every key of the provider has its circuit open: refused without reaching the upstream.</summary>
    CircuitOpen,
}

/// <summary>
/// Writes proxy errors in the provider's own error JSON, so SDKs raise their usual exception for the status:
/// OpenAI <c>{"error":{"message","type","param","code"}}</c> (API reference, "Error codes") and Anthropic
/// <c>{"type":"error","error":{"type","message"}}</c> (docs "Errors"). The one place that maps an error to its status.
/// </summary>
internal static class LlmErrors
{
    public static (int Status, string OpenAiType, string? OpenAiCode, string AnthropicType) Map(LlmError error) => error switch
    {
        LlmError.UnknownProfile or LlmError.NotOffered or LlmError.UnknownEndpoint => (404, "invalid_request_error", "not_found", "not_found_error"),
        LlmError.MethodNotAllowed => (405, "invalid_request_error", "method_not_allowed", "invalid_request_error"),
        LlmError.Unauthorized => (401, "invalid_request_error", "invalid_api_key", "authentication_error"),
        LlmError.ForbiddenOrigin => (403, "invalid_request_error", "forbidden", "permission_error"),
        LlmError.BadRequest => (400, "invalid_request_error", null, "invalid_request_error"),
        LlmError.TooLarge => (413, "invalid_request_error", "request_too_large", "request_too_large"),

        // The client was too slow, not the provider: a request error, not Anthropic's 504 timeout_error.
        LlmError.RequestTimeout => (408, "invalid_request_error", "request_timeout", "invalid_request_error"),
        LlmError.UpstreamUnreachable => (502, "server_error", "upstream_unreachable", "api_error"),
        LlmError.UpstreamProtocol => (502, "server_error", "upstream_protocol", "api_error"),

        // OpenAI answers a used-up quota with 429 insufficient_quota ("Error codes"); Anthropic's 429 is rate_limit_error.
        LlmError.BudgetExceeded => (429, "insufficient_quota", "insufficient_quota", "rate_limit_error"),
        LlmError.CircuitOpen => (503, "server_error", "circuit_open", "overloaded_error"),
        _ => (504, "server_error", "upstream_timeout", "timeout_error"),
    };

    /// <summary>The <c>status</c> recorded in metrics for an error the proxy answered itself.</summary>
    public static string StatusLabel(LlmError error) => error switch
    {
        LlmError.Unauthorized or LlmError.ForbiddenOrigin => "unauthorized",
        LlmError.UpstreamUnreachable or LlmError.UpstreamProtocol => "upstream_error",
        LlmError.UpstreamTimeout => "timeout",
        LlmError.BudgetExceeded => "budget_exceeded",
        LlmError.CircuitOpen => "circuit_open",
        _ => "bad_request",
    };

    public static async Task WriteAsync(HttpContext context, LlmProviderKind kind, LlmError error, string message)
    {
        var (status, openAiType, openAiCode, anthropicType) = Map(error);
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = status;
        response.ContentType = "application/json";
        if (error == LlmError.Unauthorized && kind == LlmProviderKind.OpenAi)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"archestra\"";
        }

        await using var w = new Utf8JsonWriter(response.Body);
        w.WriteStartObject();
        if (kind == LlmProviderKind.OpenAi)
        {
            w.WriteStartObject("error"u8);
            w.WriteString("message"u8, message);
            w.WriteString("type"u8, openAiType);
            w.WriteNull("param"u8);
            if (openAiCode is null)
            {
                w.WriteNull("code"u8);
            }
            else
            {
                w.WriteString("code"u8, openAiCode);
            }

            w.WriteEndObject();
        }
        else
        {
            w.WriteString("type"u8, "error"u8);
            w.WriteStartObject("error"u8);
            w.WriteString("type"u8, anthropicType);
            w.WriteString("message"u8, message);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>Anthropic's documented in-stream error event, sent when the upstream stream breaks after the headers went out.</summary>
    public static ReadOnlySpan<byte> AnthropicStreamCut =>
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the upstream stream ended before message_stop\"}}\n\n"u8;
}
