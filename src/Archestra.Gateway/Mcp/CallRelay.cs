using System.Threading.Channels;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Carries one routed client request through the upstream. The common case (the upstream answers
/// with no progress, log or request first) writes a single JSON response and allocates no channel.
/// The first related message switches the HTTP response to SSE: a pump writes related messages as
/// events, and the final answer is written as the last event.
/// </summary>
internal sealed class CallRelay : IUpstreamCallObserver
{
    private readonly HttpContext _context;
    private readonly McpSession? _session;
    private readonly UpstreamEntry _server;
    private readonly byte[]? _clientProgressToken;
    private readonly McpEndpoint.AcceptedTypes _accepts;
    private readonly Action<UpstreamEntry, UpstreamMessage, string> _rejectServerRequest;
    private readonly Lock _gate = new();
    private Channel<byte[]>? _channel;
    private Task? _pump;
    private bool _finished;

    public CallRelay(
        HttpContext context,
        McpSession? session,
        UpstreamEntry server,
        byte[]? clientProgressToken,
        McpEndpoint.AcceptedTypes accepts,
        Action<UpstreamEntry, UpstreamMessage, string> rejectServerRequest
    )
    {
        _context = context;
        _session = session;
        _server = server;
        _clientProgressToken = clientProgressToken;
        _accepts = accepts;
        _rejectServerRequest = rejectServerRequest;
    }

    public bool Streaming => _pump is not null;

    public void OnRelated(UpstreamMessage message)
    {
        byte[]? forClient;
        var isRequest = message.Kind == JsonRpcKind.Request;
        if (isRequest)
        {
            forClient = RelayServerRequest(_session, _server, message, _rejectServerRequest);
            if (forClient is null)
            {
                return;
            }
        }
        else if (message.MethodIs(McpMethods.Progress))
        {
            if (_clientProgressToken is null)
            {
                return;
            }

            forClient = JsonRpcRewriter.Replace(message.Span, message.Envelope.ProgressToken, _clientProgressToken);
        }
        else if (message.MethodIs(McpMethods.Message))
        {
            if (_accepts.Modern ? !LogFilter.Passes(_accepts.ModernLogLevel, message) : _session is not null && !LogFilter.Passes(_session, message))
            {
                return;
            }

            forClient = message.Buffer;
        }
        else
        {
            forClient = message.Buffer;
        }

        Deliver(forClient, isRequest);
    }

    /// <summary>Sends a request the gateway itself makes of the client (an approval) on this call's stream.</summary>
    public void SendServerRequest(byte[] request) => Deliver(request, isRequest: true);

    private void Deliver(byte[] forClient, bool isRequest)
    {
        if (!_accepts.Sse)
        {
            // A JSON-only client can still get server requests on its GET stream; notifications are dropped.
            if (isRequest)
            {
                _session!.Post(forClient);
            }

            return;
        }

        lock (_gate)
        {
            if (_finished)
            {
                if (isRequest)
                {
                    _session?.Post(forClient);
                }

                return;
            }

            if (_channel is null)
            {
                _channel = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
                _pump = PumpAsync(_channel.Reader);
            }

            _channel.Writer.TryWrite(forClient);
        }
    }

    /// <summary>
    /// Rewrites a server-to-client request for the session (new id, remembered for the answer), or
    /// rejects it to the upstream when the client cannot take it. Null when rejected.
    /// </summary>
    public static byte[]? RelayServerRequest(
        McpSession? session,
        UpstreamEntry server,
        UpstreamMessage message,
        Action<UpstreamEntry, UpstreamMessage, string> reject
    )
    {
        if (session is null)
        {
            reject(server, message, "the client has no MCP session (stateless request), so it cannot answer server requests");
            return null;
        }

        var caps = session.Capabilities;
        var allowed =
            message.MethodIs("sampling/createMessage"u8) ? caps.Sampling
            : message.MethodIs("elicitation/create"u8) ? caps.Elicitation
            : message.MethodIs("roots/list"u8) ? caps.Roots
            : true;
        if (!allowed)
        {
            reject(server, message, "the client did not declare this capability");
            return null;
        }

        var gatewayId = session.NextServerRequestId();
        session.PendingServerRequests[gatewayId] = new PendingServerRequest(server, message.Envelope.Id.Of(message.Span).ToArray(), Environment.TickCount64);
        Span<byte> digits = stackalloc byte[20];
        var n = JsonRpcRewriter.FormatId(gatewayId, digits);
        return JsonRpcRewriter.Replace(message.Span, message.Envelope.Id, digits[..n]);
    }

    private async Task PumpAsync(ChannelReader<byte[]> reader)
    {
        var response = _context.Response;
        McpEndpoint.StartEventStream(response, _session);
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var message))
                {
                    JsonRpcWriter.WriteSseEvent(response.BodyWriter, message);
                }

                await response.BodyWriter.FlushAsync(_context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Client went away; the call itself is cancelled through RequestAborted.
        }
    }

    /// <summary>
    /// Writes the final answer: as the last SSE event if streaming started (the status is then already sent), otherwise as
    /// the whole response with <paramref name="status"/>.
    /// </summary>
    public async ValueTask FinishAsync(ReadOnlyMemory<byte> final, int status = StatusCodes.Status200OK)
    {
        Task? pump;
        lock (_gate)
        {
            _finished = true;
            _channel?.Writer.TryComplete();
            pump = _pump;
        }

        var response = _context.Response;
        if (pump is not null)
        {
            await pump.ConfigureAwait(false);
            JsonRpcWriter.WriteSseEvent(response.BodyWriter, final.Span);
            await response.BodyWriter.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }

        await McpEndpoint.WriteMessageAsync(_context, final, _session, _accepts.PreferSse, status).ConfigureAwait(false);
    }
}

/// <summary>Per-session filtering of notifications/message by the level set with logging/setLevel.</summary>
internal static class LogFilter
{
    public static bool Passes(McpSession session, UpstreamMessage message)
    {
        if (!session.LogLevelSet)
        {
            return true;
        }

        var level = ReadLevel(message);
        return level is null || level.Value >= session.LogLevel;
    }

    /// <summary>A modern request gets notifications/message only at or above the level its _meta asked for, and none without one.</summary>
    public static bool Passes(LogLevelMcp? requested, UpstreamMessage message) =>
        requested is { } minimum && (ReadLevel(message) is not { } level || level >= minimum);

    public static LogLevelMcp? Parse(ReadOnlySpan<byte> name) =>
        name switch
        {
            _ when name.SequenceEqual("debug"u8) => LogLevelMcp.Debug,
            _ when name.SequenceEqual("info"u8) => LogLevelMcp.Info,
            _ when name.SequenceEqual("notice"u8) => LogLevelMcp.Notice,
            _ when name.SequenceEqual("warning"u8) => LogLevelMcp.Warning,
            _ when name.SequenceEqual("error"u8) => LogLevelMcp.Error,
            _ when name.SequenceEqual("critical"u8) => LogLevelMcp.Critical,
            _ when name.SequenceEqual("alert"u8) => LogLevelMcp.Alert,
            _ when name.SequenceEqual("emergency"u8) => LogLevelMcp.Emergency,
            _ => null,
        };

    private static LogLevelMcp? ReadLevel(UpstreamMessage message)
    {
        var p = message.Envelope.Params.Of(message.Span);
        var level = JsonObjectScan.FindValue(p, "level"u8);
        return level.Length < 2 ? null : Parse(p.Slice(level.Start + 1, level.Length - 2));
    }
}
