using System.Text.Json;
using Archestra.Gateway.Llm.Dialects;

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
/// Errors the proxy answers itself: the one place that maps an error to its status and to the provider's error types;
/// the body is written in the request's dialect (<see cref="LlmDialect.WriteError"/>), so SDKs raise their usual exception.
/// </summary>
internal static class LlmErrors
{
    public static (int Status, string OpenAiType, string? OpenAiCode, string AnthropicType) Map(LlmError error) =>
        error switch
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
    public static string StatusLabel(LlmError error) =>
        error switch
        {
            LlmError.Unauthorized or LlmError.ForbiddenOrigin => "unauthorized",
            LlmError.UpstreamUnreachable or LlmError.UpstreamProtocol => "upstream_error",
            LlmError.UpstreamTimeout => "timeout",
            LlmError.BudgetExceeded => "budget_exceeded",
            LlmError.CircuitOpen => "circuit_open",
            _ => "bad_request",
        };

    /// <summary>Answers <paramref name="error"/> with its status and the body of the request's dialect.</summary>
    public static async Task WriteAsync(HttpContext context, LlmDialect dialect, LlmError error, string message)
    {
        var map = Map(error);
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = map.Status;
        response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(response.Body);
        dialect.WriteError(writer, response, error, message);
    }
}
