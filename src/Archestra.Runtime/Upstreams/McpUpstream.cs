using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Upstreams;

public enum UpstreamState
{
    Starting,
    Ready,
    Down,
    Stopped,
}

/// <summary>Receives messages from an in-flight call before its response: progress, logging, server requests.</summary>
public interface IUpstreamCallObserver
{
    /// <summary>Called on the upstream's reader; must not block.</summary>
    void OnRelated(UpstreamMessage message);
}

/// <summary>Receives what an upstream sends outside of any call, and its state changes.</summary>
public interface IUpstreamListener
{
    /// <summary>list_changed, resources/updated, logging and server requests that belong to no call. Must not block.</summary>
    void OnUnsolicited(McpUpstream upstream, UpstreamMessage message);

    void OnStateChanged(McpUpstream upstream, UpstreamState state, string? detail);
}

/// <summary>
/// One connection to an upstream MCP server, shared by every gateway session that uses the server.
/// Requests are multiplexed by id: the gateway allocates ids with <see cref="NextId"/>, and also uses
/// the same number as the progress token of the call, so progress notifications route back exactly.
/// </summary>
public abstract class McpUpstream : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, PendingCall> _pending = new();
    private long _nextId;
    private volatile UpstreamState _state = UpstreamState.Starting;
    private string? _stateDetail;

    protected McpUpstream(UpstreamOptions options, IUpstreamListener listener, ILogger logger)
    {
        Options = options;
        Listener = listener;
        Logger = logger;
    }

    public string Name => Options.Name;

    public UpstreamOptions Options { get; }

    protected IUpstreamListener Listener { get; }

    protected ILogger Logger { get; }

    public UpstreamState State => _state;

    /// <summary>Why the upstream is not ready, for error messages.</summary>
    public string? StateDetail => _stateDetail;

    /// <summary>The raw JSON <c>result</c> of the upstream's initialize answer (capabilities, serverInfo, instructions).</summary>
    public byte[]? InitializeResult { get; private set; }

    /// <summary>The protocol revision the upstream agreed to.</summary>
    public string? ProtocolVersion { get; private set; }

    /// <summary>The upstream's era, found by the probe of the last handshake (2026-07-28 basic/versioning, "Backward Compatibility").</summary>
    public McpEra Era { get; private set; }

    // The probe's request id while it is in flight, so a transport can read a modern error sent with an HTTP error status.
    private long _probeId;

    // Set when a probe cost the connection (a legacy server that exits on a request before initialize): later
    // handshakes of this upstream go straight to initialize instead of probing it to death on every restart.
    private volatile bool _skipProbe;

    /// <summary>Number of calls currently waiting for an answer.</summary>
    public int InFlight => _pending.Count;

    public long NextId() => Interlocked.Increment(ref _nextId);

    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _supervisor;
    private int _disposed;

    /// <summary>The background loop that connects, watches and reconnects; null before <see cref="StartAsync"/>.</summary>
    protected Task? Supervisor => _supervisor;

    protected bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Starts connecting. Returns after the first attempt; a failed upstream keeps retrying in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (Interlocked.CompareExchange(ref _supervisor, Task.CompletedTask, null) is not null)
        {
            throw new InvalidOperationException($"MCP server '{Name}' was already started");
        }

        _supervisor = Task.Run(SuperviseAsync, CancellationToken.None);
        await _firstAttempt.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The transport's loop: connect, hand-shake, serve, reconnect until disposed. Calls <see cref="FirstAttemptDone"/>.</summary>
    protected abstract Task SuperviseAsync();

    /// <summary>Releases <see cref="StartAsync"/> after the first connection attempt, whatever its outcome.</summary>
    protected void FirstAttemptDone() => _firstAttempt.TrySetResult();

    /// <summary>
    /// The arguments a tool mirrors into <c>Mcp-Param-*</c> headers, by the server's own tool name, from its latest listing:
    /// a modern server refuses a tools/call whose headers are missing (SEP-2243), so requests to it carry them.
    /// </summary>
    public Func<string, ParamHeader[]>? ToolParamHeaders { get; set; }

    /// <summary>Marks the upstream disposed; false when it already was.</summary>
    protected bool TryMarkDisposed() => Interlocked.Exchange(ref _disposed, 1) == 0;

    /// <summary>
    /// Sends a request whose id is <paramref name="id"/> (from <see cref="NextId"/>) and waits for its response.
    /// Related messages before the response go to <paramref name="observer"/>. On timeout or cancellation the
    /// upstream is sent notifications/cancelled for the id.
    /// </summary>
    public async ValueTask<UpstreamCallResult> CallAsync(
        ReadOnlyMemory<byte> request,
        long id,
        bool idempotent,
        IUpstreamCallObserver? observer,
        CancellationToken cancellationToken
    )
    {
        if (_state != UpstreamState.Ready)
        {
            return NotReady();
        }

        return await ExchangeAsync(Enveloped(request), id, idempotent, observer, cancelUpstream: true, cancellationToken).ConfigureAwait(false);
    }

    private UpstreamCallResult NotReady() =>
        UpstreamCallResult.Failure(UpstreamError.Unavailable, $"MCP server '{Name}' is not available: {_stateDetail ?? "starting"}");

    /// <summary>A request to a modern server carries the envelope: added when the request has none.</summary>
    private ReadOnlyMemory<byte> Enveloped(ReadOnlyMemory<byte> request) =>
        Era == McpEra.Modern && ModernEnvelope.Apply(request.Span, Options.ClientName, Options.ClientVersion) is { } enveloped ? enveloped : request;

    /// <summary>
    /// Sends a request that stays open until the server answers it or <paramref name="cancellationToken"/> ends it, with no
    /// time limit: a modern server's <c>subscriptions/listen</c> (2026-07-28 basic/patterns/subscriptions), whose stream
    /// carries change notifications to the listener as unsolicited messages. Ending it is closing it: no notifications/cancelled.
    /// </summary>
    public async ValueTask<UpstreamCallResult> HoldOpenAsync(ReadOnlyMemory<byte> request, long id, CancellationToken cancellationToken)
    {
        if (_state != UpstreamState.Ready)
        {
            return NotReady();
        }

        return await ExchangeAsync(
                Enveloped(request),
                id,
                idempotent: false,
                observer: null,
                cancelUpstream: false,
                cancellationToken,
                Timeout.InfiniteTimeSpan
            )
            .ConfigureAwait(false);
    }

    /// <summary>
    /// The one request/response exchange behind <see cref="CallAsync"/> and <see cref="HandshakeAsync"/>:
    /// registers the call, applies the timeout, and waits for the answer. <paramref name="cancelUpstream"/>
    /// is false for initialize, which the spec says a client must never cancel.
    /// </summary>
    private async ValueTask<UpstreamCallResult> ExchangeAsync(
        ReadOnlyMemory<byte> request,
        long id,
        bool idempotent,
        IUpstreamCallObserver? observer,
        bool cancelUpstream,
        CancellationToken cancellationToken,
        TimeSpan? timeLimit = null
    )
    {
        var call = new PendingCall(id, observer);
        _pending[id] = call;
        var timeout = RentTimeout();
        timeout.CancelAfter(timeLimit ?? Options.Timeout);
        var link = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), timeout);
        try
        {
            var sent = await SendRequestCoreAsync(request, call, idempotent, timeout.Token).ConfigureAwait(false);
            if (!sent.IsSuccess)
            {
                return sent;
            }

            if (sent.Response is not null)
            {
                return RequireObjectResult(sent);
            }

            return RequireObjectResult(await call.Completion.Task.WaitAsync(timeout.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            if (call.Completion.Task.IsCompletedSuccessfully)
            {
                return RequireObjectResult(call.Completion.Task.Result);
            }

            if (cancelUpstream)
            {
                await SendCancelledAsync(id, cancellationToken.IsCancellationRequested ? "client cancelled" : "timeout").ConfigureAwait(false);
            }

            return cancellationToken.IsCancellationRequested
                ? UpstreamCallResult.Failure(UpstreamError.Cancelled, $"call to MCP server '{Name}' was cancelled")
                : UpstreamCallResult.Failure(UpstreamError.Timeout, $"MCP server '{Name}' did not answer within {Options.Timeout.TotalSeconds:0.###} s");
        }
        finally
        {
            _pending.TryRemove(id, out _);
            link.Dispose();
            ReturnTimeout(timeout);
        }
    }

    /// <summary>
    /// MCP's schema makes every result an object (<c>Result</c>, with <c>_meta</c>); a string, number, array or
    /// null is a broken server, and relaying it would hand the client an answer no MCP client can use.
    /// </summary>
    private UpstreamCallResult RequireObjectResult(UpstreamCallResult result)
    {
        if (result.Response is not { Kind: JsonRpcKind.Response } response)
        {
            return result;
        }

        var value = response.Envelope.Result.Of(response.Span);
        if (value[0] == (byte)'{')
        {
            return result;
        }

        var kind = value[0] switch
        {
            (byte)'"' => "a string",
            (byte)'[' => "an array",
            (byte)'n' => "null",
            (byte)'t' or (byte)'f' => "a boolean",
            _ => "a number",
        };
        return UpstreamCallResult.Failure(UpstreamError.Protocol, $"MCP server '{Name}' answered with a result that is {kind}, not an object as MCP requires");
    }

    /// <summary>
    /// Per-call timeout sources are pooled: a reset source keeps its timer, so a call costs no
    /// CancellationTokenSource, linked registration list or TimerQueueTimer allocation (~0.5 KB measured
    /// per tools/call before, bench/README.md). Bounded so a burst does not pin memory.
    /// </summary>
    private readonly ConcurrentQueue<CancellationTokenSource> _timeouts = new();
    private int _pooledTimeouts;

    private CancellationTokenSource RentTimeout()
    {
        if (_timeouts.TryDequeue(out var cts))
        {
            Interlocked.Decrement(ref _pooledTimeouts);
            return cts;
        }

        return new CancellationTokenSource();
    }

    private void ReturnTimeout(CancellationTokenSource cts)
    {
        // TryReset fails once the source has fired (timeout or caller cancellation): such a source is not reused.
        if (cts.TryReset())
        {
            if (Interlocked.Increment(ref _pooledTimeouts) <= 256)
            {
                _timeouts.Enqueue(cts);
                return;
            }

            Interlocked.Decrement(ref _pooledTimeouts);
        }

        cts.Dispose();
    }

    /// <summary>
    /// Transport-specific send. Streamable HTTP returns the response directly (and dispatches related
    /// messages from the POST's stream); stdio and legacy SSE return a success without a response and the
    /// reader completes the call through <see cref="Dispatch"/>.
    /// </summary>
    protected abstract ValueTask<UpstreamCallResult> SendRequestCoreAsync(
        ReadOnlyMemory<byte> request,
        PendingCall call,
        bool idempotent,
        CancellationToken cancellationToken
    );

    /// <summary>Sends a notification or a response to a server request. False when the upstream is not connected.</summary>
    public abstract ValueTask<bool> SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    private async ValueTask SendCancelledAsync(long id, string reason)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WriteString("method"u8, McpMethods.Cancelled);
            w.WriteStartObject("params"u8);
            w.WriteNumber("requestId"u8, id);
            w.WriteString("reason"u8, reason);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await SendAsync(buffer.WrittenMemory, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // Best effort: the upstream may already be gone.
        }
    }

    /// <summary>
    /// Routes one message read from the upstream. <paramref name="related"/> is the call whose stream
    /// carried it (Streamable HTTP POST responses); stdio and SSE pass null and routing uses ids, progress
    /// tokens and, for messages that carry neither, the only call in flight when there is exactly one.
    /// </summary>
    protected void Dispatch(UpstreamMessage message, PendingCall? related)
    {
        var env = message.Envelope;
        switch (env.Kind)
        {
            case JsonRpcKind.Response:
            case JsonRpcKind.ErrorResponse:
                if (JsonRpcRewriter.TryParseId(env.Id.Of(message.Span), out var id) && _pending.TryGetValue(id, out var owner))
                {
                    owner.Completion.TrySetResult(UpstreamCallResult.Success(message));
                }
                else
                {
                    Log.UnmatchedResponse(Logger, Name);
                }

                return;

            case JsonRpcKind.Notification:
                if (!env.ProgressToken.IsEmpty && message.MethodIs(McpMethods.Progress))
                {
                    if (JsonRpcRewriter.TryParseId(env.ProgressToken.Of(message.Span), out var token) && _pending.TryGetValue(token, out var progressOwner))
                    {
                        progressOwner.Observer?.OnRelated(message);
                    }

                    // Progress for a call that has ended is dropped, as the spec allows.
                    return;
                }

                if (message.MethodIs(McpMethods.Message) && (related ?? SoleInFlight()) is { Observer: not null } logOwner)
                {
                    logOwner.Observer.OnRelated(message);
                    return;
                }

                Listener.OnUnsolicited(this, message);
                return;

            case JsonRpcKind.Request:
                if (message.MethodIs(McpMethods.Ping))
                {
                    _ = AnswerPingAsync(message);
                    return;
                }

                if ((related ?? SoleInFlight()) is { Observer: not null } requestOwner)
                {
                    requestOwner.Observer.OnRelated(message);
                }
                else
                {
                    Listener.OnUnsolicited(this, message);
                }

                return;
        }
    }

    /// <summary>
    /// Handles a message the strict parse refused (<see cref="StrictJson"/>: a repeated key, invalid UTF-8, too deep).
    /// It is never relayed: the gateway would decide on one reading and the client act on another. When it answers a
    /// call in flight, that call fails now as a protocol error instead of waiting for its timeout. True when it did.
    /// </summary>
    protected bool RefuseAmbiguous(ReadOnlySpan<byte> json, PendingCall? related)
    {
        var why = StrictJson.Describe(json, StrictJson.Check(json));
        Log.AmbiguousMessage(Logger, Name, why);
        var detail = $"MCP server '{Name}' sent a message the gateway refuses to relay: {why}";
        if (JsonRpcEnvelope.TryParseLenient(json, out var env) == JsonRpcParseError.None && env.IsResponse)
        {
            return JsonRpcRewriter.TryParseId(env.Id.Of(json), out var id) && FailPending(id, UpstreamError.Protocol, detail);
        }

        return related is not null
            && env.Kind == JsonRpcKind.Invalid
            && related.Completion.TrySetResult(UpstreamCallResult.Failure(UpstreamError.Protocol, detail));
    }

    private PendingCall? SoleInFlight()
    {
        PendingCall? only = null;
        foreach (var pair in _pending)
        {
            if (only is not null)
            {
                return null;
            }

            only = pair.Value;
        }

        return only;
    }

    private async Task AnswerPingAsync(UpstreamMessage ping)
    {
        var id = ping.Envelope.Id.Of(ping.Span).ToArray();
        var buffer = new byte[id.Length + 40];
        var n = 0;
        "{\"jsonrpc\":\"2.0\",\"id\":"u8.CopyTo(buffer);
        n += 22;
        id.CopyTo(buffer.AsSpan(n));
        n += id.Length;
        ",\"result\":{}}"u8.CopyTo(buffer.AsSpan(n));
        n += 13;
        try
        {
            await SendAsync(buffer.AsMemory(0, n), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            // The upstream went away; its reader reports that.
        }
    }

    /// <summary>Fails one call in flight; false when no call has that id.</summary>
    protected bool FailPending(long id, UpstreamError error, string detail) =>
        _pending.TryGetValue(id, out var call) && call.Completion.TrySetResult(UpstreamCallResult.Failure(error, detail));

    /// <summary>Fails the call in flight when there is exactly one; false when there are none or several.</summary>
    protected bool FailSoleInFlight(UpstreamError error, string detail) =>
        SoleInFlight() is { } call && call.Completion.TrySetResult(UpstreamCallResult.Failure(error, detail));

    /// <summary>Fails every call in flight, e.g. when the stdio process exits.</summary>
    protected void FailAllPending(UpstreamError error, string detail)
    {
        foreach (var pair in _pending)
        {
            pair.Value.Completion.TrySetResult(UpstreamCallResult.Failure(error, detail));
        }
    }

    protected void SetState(UpstreamState state, string? detail)
    {
        _stateDetail = detail;
        var previous = _state;
        _state = state;
        if (previous != state)
        {
            Listener.OnStateChanged(this, state, detail);
        }
    }

    /// <summary>
    /// Runs the MCP handshake over the transport (initialize, then notifications/initialized).
    /// Transports call this once connected, before <see cref="SetState"/>(Ready).
    /// </summary>
    protected async Task<UpstreamCallResult> HandshakeAsync(CancellationToken cancellationToken)
    {
        Era = McpEra.Legacy;
        UpstreamCallResult? discovered = null;
        if (!_skipProbe && await ProbeAsync(cancellationToken).ConfigureAwait(false) is { } probe)
        {
            if (!probe.IsSuccess)
            {
                return probe;
            }

            discovered = probe;
        }

        // Even a server that answered server/discover is asked to initialize: one that takes it (a dual-era server) is
        // spoken to in its 2025 revision, where the gateway relays its sampling, elicitation and roots requests, resource
        // subscriptions and notifications, which it cannot yet translate into 2026-07-28 input requests. A modern-only
        // server refuses initialize (400 / -32022 on HTTP) and is then called statelessly with the envelope.
        var legacy = await InitializeAsync(cancellationToken).ConfigureAwait(false);
        if (legacy.IsSuccess || discovered is not { } modern)
        {
            return legacy;
        }

        var discover = modern.Response!;
        Era = McpEra.Modern;
        InitializeResult = discover.Envelope.Result.Of(discover.Span).ToArray();
        ProtocolVersion = McpRevisions.LatestModern;
        OnInitialized();
        return modern;
    }

    private async Task<UpstreamCallResult> InitializeAsync(CancellationToken cancellationToken)
    {
        var id = NextId();
        var result = await ExchangeAsync(BuildInitialize(id), id, idempotent: false, observer: null, cancelUpstream: false, cancellationToken)
            .ConfigureAwait(false);
        switch (result.Error)
        {
            case UpstreamError.Cancelled:
                // The transport is stopping: its supervisor ends on the exception, as for any other await.
                throw new OperationCanceledException(cancellationToken);
            case UpstreamError.Timeout:
                return UpstreamCallResult.Failure(
                    UpstreamError.Timeout,
                    $"MCP server '{Name}' did not answer initialize within {Options.Timeout.TotalSeconds:0.###} s"
                );
            case not UpstreamError.None:
                return result;
        }

        var response = result.Response!;
        if (response.Kind != JsonRpcKind.Response)
        {
            return UpstreamCallResult.Failure(
                UpstreamError.ConnectFailed,
                $"MCP server '{Name}' refused initialize: {System.Text.Encoding.UTF8.GetString(response.Envelope.Error.Of(response.Span))}"
            );
        }

        var resultJson = response.Envelope.Result.Of(response.Span).ToArray();
        InitializeResult = resultJson;
        ProtocolVersion = ReadProtocolVersion(resultJson) ?? Options.ProtocolVersion;
        OnInitialized();
        await SendAsync("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Asks with server/discover whether the server is modern (2026-07-28 transports, "Backward Compatibility"). Returns the
    /// DiscoverResult of a modern server, a failure that ends the handshake, or null for a legacy server: any answer that is
    /// not a DiscoverResult offering 2026-07-28 or a modern-only error, or no answer in time.
    /// </summary>
    private async Task<UpstreamCallResult?> ProbeAsync(CancellationToken cancellationToken)
    {
        var id = NextId();
        Volatile.Write(ref _probeId, id);
        UpstreamCallResult result;
        try
        {
            result = await ExchangeAsync(
                    ModernEnvelope.Discover(id, Options.ClientName, Options.ClientVersion),
                    id,
                    idempotent: false,
                    observer: null,
                    cancelUpstream: false,
                    cancellationToken,
                    ProbeTimeout
                )
                .ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _probeId, 0);
        }

        if (result.Error == UpstreamError.Cancelled)
        {
            throw new OperationCanceledException(cancellationToken);
        }

        if (result.Error is UpstreamError.Disconnected or UpstreamError.Unavailable)
        {
            _skipProbe = true;
            return UpstreamCallResult.Failure(
                result.Error,
                $"MCP server '{Name}' closed the connection on the server/discover probe; the next attempt uses initialize: {result.Detail}"
            );
        }

        // A modern error (e.g. -32022: it serves another modern revision) still leaves initialize to try.
        return result.Response is { Kind: JsonRpcKind.Response } response && OffersModernRevision(response.Envelope.Result.Of(response.Span)) ? result : null;
    }

    /// <summary>How long a server may take to answer the probe before it counts as legacy (the C# SDK's DiscoverProbeTimeout default).</summary>
    private TimeSpan ProbeTimeout => Options.Timeout < TimeSpan.FromSeconds(5) ? Options.Timeout : TimeSpan.FromSeconds(5);

    /// <summary>Whether a DiscoverResult's supportedVersions include the modern revision the gateway speaks.</summary>
    private static bool OffersModernRevision(ReadOnlySpan<byte> result)
    {
        var versions = JsonObjectScan.FindValue(result, "supportedVersions"u8);
        if (versions.IsEmpty)
        {
            return false;
        }

        var reader = new Utf8JsonReader(versions.Of(result));
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.String && McpRevisions.IsModern(reader.ValueSpan))
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // Not an array of strings: not a DiscoverResult the gateway can use.
        }

        return false;
    }

    /// <summary>True while <paramref name="call"/> is the server/discover probe: its answer may come with an HTTP error status.</summary>
    protected bool IsProbe(PendingCall call) => call.Id == Volatile.Read(ref _probeId);

    /// <summary>Hook for transports that need the negotiated version (the HTTP header).</summary>
    protected virtual void OnInitialized() { }

    private byte[] BuildInitialize(long id)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WriteNumber("id"u8, id);
            w.WriteString("method"u8, McpMethods.Initialize);
            w.WriteStartObject("params"u8);
            w.WriteString("protocolVersion"u8, Options.ProtocolVersion);
            w.WritePropertyName("capabilities"u8);
            w.WriteRawValue(Options.ClientCapabilitiesJson);
            w.WriteStartObject("clientInfo"u8);
            w.WriteString("name"u8, Options.ClientName);
            w.WriteString("version"u8, Options.ClientVersion);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string? ReadProtocolVersion(byte[] result) => JsonObjectScan.GetString(result, "protocolVersion"u8);

    public abstract ValueTask DisposeAsync();

    /// <summary>A request waiting for its response.</summary>
    protected internal sealed class PendingCall
    {
        public PendingCall(long id, IUpstreamCallObserver? observer)
        {
            Id = id;
            Observer = observer;
        }

        public long Id { get; }

        public IUpstreamCallObserver? Observer { get; }

        public TaskCompletionSource<UpstreamCallResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Debug, "MCP server '{Server}' sent a response that matches no call in flight")]
    public static partial void UnmatchedResponse(ILogger logger, string server);

    [LoggerMessage(1002, LogLevel.Warning, "MCP server '{Server}' sent a message that was not relayed: {Why}")]
    public static partial void AmbiguousMessage(ILogger logger, string server, Diagnostics.LogText why);
}
