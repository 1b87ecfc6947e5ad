using System.Buffers;
using System.Collections.Concurrent;
using System.Net.ServerSentEvents;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Archestra.Fixture.Mcp;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Http;

/// <summary>
/// Streamable HTTP at /mcp (MCP 2025-11-25 basic/transports): the session map in front of the
/// SDK's <see cref="StreamableHttpServerTransport"/>, which does the JSON-RPC and SSE work.
/// </summary>
internal sealed partial class McpEndpoint(
    FixtureCatalog catalog,
    ModernLeg modern,
    ISseEventStreamStore eventStore,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory
) : IAsyncDisposable
{
    private const string SessionIdHeader = "Mcp-Session-Id";
    private const string LastEventIdHeader = "Last-Event-ID";

    private static readonly JsonTypeInfo<JsonRpcMessage> s_messageType =
        (JsonTypeInfo<JsonRpcMessage>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage));

    private static readonly MediaTypeHeaderValue s_json = new("application/json");
    private static readonly MediaTypeHeaderValue s_eventStream = new("text/event-stream");

    private readonly ConcurrentDictionary<string, HttpSession> _sessions = new(StringComparer.Ordinal);
    private readonly ILogger _logger = loggerFactory.CreateLogger<McpEndpoint>();

    public async Task PostAsync(HttpContext context)
    {
        if (!Accepts(context, s_json) || !Accepts(context, s_eventStream))
        {
            await JsonRpcErrors
                .WriteAsync(
                    context,
                    StatusCodes.Status406NotAcceptable,
                    JsonRpcErrors.ServerError,
                    "Not Acceptable: Client must accept both application/json and text/event-stream"
                )
                .ConfigureAwait(false);
            return;
        }

        JsonRpcMessage? message;
        try
        {
            message = await JsonSerializer.DeserializeAsync(context.Request.Body, s_messageType, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            await JsonRpcErrors
                .WriteAsync(context, StatusCodes.Status400BadRequest, JsonRpcErrors.ParseError, "Parse error: the body is not a JSON-RPC message")
                .ConfigureAwait(false);
            return;
        }

        if (message is null)
        {
            await JsonRpcErrors
                .WriteAsync(context, StatusCodes.Status400BadRequest, JsonRpcErrors.InvalidRequest, "Invalid Request: empty body")
                .ConfigureAwait(false);
            return;
        }

        if (ModernLeg.Claims(context.Request, message))
        {
            // 2026-07-28: stateless; Mcp-Session-Id is ignored.
            await modern.ServeAsync(context, message).ConfigureAwait(false);
            return;
        }

        HttpSession? session;
        var sessionId = context.Request.Headers[SessionIdHeader].ToString();
        if (sessionId.Length == 0)
        {
            if (message is not JsonRpcRequest { Method: RequestMethods.Initialize })
            {
                await JsonRpcErrors
                    .WriteAsync(
                        context,
                        StatusCodes.Status400BadRequest,
                        JsonRpcErrors.ServerError,
                        "Bad Request: Mcp-Session-Id is required for every request after initialize"
                    )
                    .ConfigureAwait(false);
                return;
            }

            session = StartSession();
        }
        else if (!_sessions.TryGetValue(sessionId, out session))
        {
            await WriteSessionNotFoundAsync(context).ConfigureAwait(false);
            return;
        }

        context.Response.Headers[SessionIdHeader] = session.Id;
        PrepareEventStream(context);
        try
        {
            var wrote = await session.Transport.HandlePostRequestAsync(message, context.Response.Body, context.RequestAborted).ConfigureAwait(false);
            if (!wrote)
            {
                context.Response.Headers.ContentType = default;
                context.Response.StatusCode = StatusCodes.Status202Accepted;
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-stream; the SDK keeps what the event store holds for a resume.
        }
    }

    public async Task GetAsync(HttpContext context)
    {
        if (context.Request.Headers["MCP-Protocol-Version"].ToString().Trim() == "2026-07-28")
        {
            context.Response.Headers.Allow = "POST";
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        if (!Accepts(context, s_eventStream))
        {
            await JsonRpcErrors
                .WriteAsync(context, StatusCodes.Status406NotAcceptable, JsonRpcErrors.ServerError, "Not Acceptable: Client must accept text/event-stream")
                .ConfigureAwait(false);
            return;
        }

        if (await FindSessionAsync(context).ConfigureAwait(false) is not { } session)
        {
            return;
        }

        using var streamCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = streamCts.Token;
        try
        {
            var lastEventId = context.Request.Headers[LastEventIdHeader].ToString();
            if (lastEventId.Length > 0)
            {
                await ResumeAsync(context, session, lastEventId, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (!session.TryStartGet())
            {
                await JsonRpcErrors
                    .WriteAsync(
                        context,
                        StatusCodes.Status409Conflict,
                        JsonRpcErrors.ServerError,
                        "Conflict: this session already has its GET stream; resume with Last-Event-ID"
                    )
                    .ConfigureAwait(false);
                return;
            }

            PrepareEventStream(context);
            await session.Transport.HandleGetRequestAsync(context.Response.Body, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closing the connection is how SSE clients end a stream.
        }
    }

    public async Task DeleteAsync(HttpContext context)
    {
        if (await FindSessionAsync(context).ConfigureAwait(false) is not { } session)
        {
            return;
        }

        if (_sessions.TryRemove(session.Id, out _))
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _sessions.Keys)
        {
            if (_sessions.TryRemove(id, out var session))
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private HttpSession StartSession()
    {
        var id = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var transport = new StreamableHttpServerTransport(loggerFactory) { SessionId = id, EventStreamStore = eventStore };
        var fixture = new FixtureSession(catalog, loggerFactory.CreateLogger<FixtureSession>());
        var server = McpServer.Create(transport, FixtureServer.CreateOptions(fixture), loggerFactory);
        fixture.Attach(server);

        var session = new HttpSession(id, transport, server, fixture);
        _sessions[id] = session;
        session.RunTask = RunAsync(session, server);
        return session;
    }

    private async Task RunAsync(HttpSession session, McpServer server)
    {
        try
        {
            await server.RunAsync(lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Shutdown or DELETE.
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            LogSessionFailed(_logger, session.Id, ex);
        }
        finally
        {
            _sessions.TryRemove(session.Id, out _);
        }
    }

    private async ValueTask<HttpSession?> FindSessionAsync(HttpContext context)
    {
        var sessionId = context.Request.Headers[SessionIdHeader].ToString();
        if (sessionId.Length == 0)
        {
            await JsonRpcErrors
                .WriteAsync(context, StatusCodes.Status400BadRequest, JsonRpcErrors.ServerError, "Bad Request: Mcp-Session-Id header is required")
                .ConfigureAwait(false);
            return null;
        }

        if (!_sessions.TryGetValue(sessionId, out var session))
        {
            await WriteSessionNotFoundAsync(context).ConfigureAwait(false);
            return null;
        }

        context.Response.Headers[SessionIdHeader] = session.Id;
        return session;
    }

    private async Task ResumeAsync(HttpContext context, HttpSession session, string lastEventId, CancellationToken cancellationToken)
    {
        var reader = await eventStore.GetStreamReaderAsync(lastEventId, cancellationToken).ConfigureAwait(false);
        if (reader is null || !string.Equals(reader.SessionId, session.Id, StringComparison.Ordinal))
        {
            await JsonRpcErrors
                .WriteAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    JsonRpcErrors.ServerError,
                    "Bad Request: Last-Event-ID is unknown, expired, or belongs to another session"
                )
                .ConfigureAwait(false);
            return;
        }

        PrepareEventStream(context);
        await SseFormatter.WriteAsync(reader.ReadEventsAsync(cancellationToken), context.Response.Body, FormatMessage, cancellationToken).ConfigureAwait(false);
    }

    private static void FormatMessage(SseItem<JsonRpcMessage?> item, IBufferWriter<byte> buffer)
    {
        if (item.Data is null)
        {
            return;
        }

        using var writer = new Utf8JsonWriter(buffer);
        JsonSerializer.Serialize(writer, item.Data, s_messageType);
    }

    private static Task WriteSessionNotFoundAsync(HttpContext context) =>
        JsonRpcErrors.WriteAsync(context, StatusCodes.Status404NotFound, JsonRpcErrors.SessionNotFound, "Session not found");

    private static bool Accepts(HttpContext context, MediaTypeHeaderValue mediaType)
    {
        foreach (var accepted in context.Request.GetTypedHeaders().Accept)
        {
            if (mediaType.IsSubsetOf(accepted))
            {
                return true;
            }
        }

        return false;
    }

    private static void PrepareEventStream(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache,no-store";
        // Compression middleware would hold events back until a buffer fills.
        context.Response.Headers.ContentEncoding = "identity";
        context.Features.GetRequiredFeature<IHttpResponseBodyFeature>().DisableBuffering();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} ended with an error")]
    private static partial void LogSessionFailed(ILogger logger, string sessionId, Exception exception);
}
