using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

// The endpoint's HTTP side: content types, Accept, the protocol version header, writing JSON or an event stream.
internal sealed partial class McpEndpoint
{
    private static bool CheckProtocolVersionHeader(HttpContext context, out string? bad)
    {
        bad = null;
        var header = context.Request.Headers[McpHeaders.ProtocolVersion];
        if (header.Count == 0)
        {
            return true;
        }

        var value = header.ToString();
        if (McpRevisions.IsLegacy(value))
        {
            return true;
        }

        bad = value;
        return false;
    }

    internal static bool IsJsonContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return false;
        }

        var semi = contentType.IndexOf(';');
        var media = (semi < 0 ? contentType : contentType[..semi]).AsSpan().Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>What the request's Accept header allows, parsed once per request and passed down.</summary>
    /// <param name="Modern">The request is MCP 2026-07-28: results carry resultType, no session, no server requests.</param>
    /// <param name="ModernLogLevel">The log level a modern request asked for in _meta; null: no notifications/message.</param>
    internal readonly record struct AcceptedTypes(bool Json, bool Sse, bool Modern = false, LogLevelMcp? ModernLogLevel = null)
    {
        /// <summary>A client that does not take JSON gets even a single answer as one SSE event.</summary>
        public bool PreferSse => !Json;

        public static AcceptedTypes Of(HttpRequest request) => new(Accepts(request, "application/json"), Accepts(request, "text/event-stream"));
    }

    private static bool Accepts(HttpRequest request, string mediaType)
    {
        var accept = request.Headers.Accept;
        if (accept.Count == 0)
        {
            // No Accept header means any type (RFC 9110 §12.5.1).
            return true;
        }

        foreach (var value in accept)
        {
            // Allocation-free: this runs on every request (a string.Split here showed up in the profile).
            var rest = value.AsSpan();
            while (!rest.IsEmpty)
            {
                var comma = rest.IndexOf(',');
                var part = comma < 0 ? rest : rest[..comma];
                rest = comma < 0 ? default : rest[(comma + 1)..];
                var semi = part.IndexOf(';');
                var media = (semi < 0 ? part : part[..semi]).Trim();
                if (
                    media.Equals(mediaType, StringComparison.OrdinalIgnoreCase)
                    || media.SequenceEqual("*/*")
                    || (media.EndsWith("/*", StringComparison.Ordinal) && mediaType.AsSpan().StartsWith(media[..^1], StringComparison.OrdinalIgnoreCase))
                )
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Sets the status and headers of an SSE response (POST answer or GET stream).</summary>
    internal static void StartEventStream(HttpResponse response, McpSession? session)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        if (session is not null)
        {
            response.Headers[McpHeaders.SessionId] = session.Id;
        }
    }

    /// <summary>Writes one complete JSON-RPC message as the whole response (JSON, or one SSE event when the client only takes SSE).</summary>
    internal static Task WriteMessageAsync(
        HttpContext context,
        ReadOnlyMemory<byte> message,
        McpSession? session,
        bool preferSse,
        int status = StatusCodes.Status200OK
    )
    {
        var response = context.Response;
        if (preferSse)
        {
            StartEventStream(response, session);
            response.StatusCode = status;
            JsonRpcWriter.WriteSseEvent(response.BodyWriter, message.Span);
            return response.BodyWriter.FlushAsync(CancellationToken.None).AsTask();
        }

        response.StatusCode = status;
        if (session is not null)
        {
            response.Headers[McpHeaders.SessionId] = session.Id;
        }

        response.ContentType = "application/json";
        response.ContentLength = message.Length;
        var span = response.BodyWriter.GetSpan(message.Length);
        message.Span.CopyTo(span);
        response.BodyWriter.Advance(message.Length);
        return response.BodyWriter.FlushAsync(CancellationToken.None).AsTask();
    }

    /// <summary>An HTTP-level error with a JSON-RPC error body (id null), so both HTTP and JSON-RPC clients get a reason.</summary>
    internal static Task WriteHttpErrorAsync(HttpContext context, int status, int code, string message)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        var body = JsonRpcWriter.Error(default, code, message);
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body).AsTask();
    }
}
