using System.Collections.Concurrent;
using System.Threading.Channels;
using Archestra.Policy;

namespace Archestra.Gateway.Mcp;

/// <summary>MCP logging levels in increasing severity (RFC 5424 names, as MCP uses them).</summary>
internal enum LogLevelMcp
{
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

/// <summary>
/// A client session. Holds only what routing needs: the profile, the negotiated version, what the client
/// can receive, its subscriptions and the ids of server-to-client requests waiting for its answer.
/// </summary>
internal sealed class McpSession
{
    /// <summary>
    /// Messages for the GET stream. Bounded so that a client that never opens the stream cannot grow memory;
    /// 256 covers bursts of list_changed and log lines, and the oldest is dropped first.
    /// </summary>
    private readonly Channel<byte[]> _outbound = Channel.CreateBounded<byte[]>(
        new BoundedChannelOptions(256)
        {
            FullMode = BoundedChannelFullMode.DropOldest,

            // A client may hold several GET streams (spec: Transports, "Multiple Connections"); each message goes to one of them.
            SingleReader = false,
        }
    );

    private GatewayProfile _profile;
    private long _nextServerRequestId;
    private byte[]? _digest;
    private int _getStreams;

    public McpSession(string id, GatewayProfile profile, string protocolVersion, ClientCapabilities capabilities)
    {
        Id = id;
        _profile = profile;
        ProtocolVersion = protocolVersion;
        Capabilities = capabilities;
        Touch();
    }

    public string Id { get; }

    /// <summary>Replaced when the configuration changes, so the session sees its profile's new servers and tokens.</summary>
    public GatewayProfile Profile
    {
        get => Volatile.Read(ref _profile);
        set => Volatile.Write(ref _profile, value);
    }

    public string ProtocolVersion { get; }

    public ClientCapabilities Capabilities { get; }

    public LogLevelMcp LogLevel { get; set; } = LogLevelMcp.Debug;

    public bool LogLevelSet { get; set; }

    public long LastActivityTicks { get; private set; }

    public CancellationTokenSource Lifetime { get; } = new();

    /// <summary>Resource URIs this session subscribed to, with the server that owns each.</summary>
    public ConcurrentDictionary<string, UpstreamEntry> Subscriptions { get; } = new(StringComparer.Ordinal);

    /// <summary>Server-to-client requests relayed to this client: gateway id → where the answer goes.</summary>
    public ConcurrentDictionary<long, PendingServerRequest> PendingServerRequests { get; } = new();

    /// <summary>Client requests in flight, by raw id text, so notifications/cancelled can reach the upstream.</summary>
    public ConcurrentDictionary<string, CancellationTokenSource> InFlight { get; } = new(StringComparer.Ordinal);

    public ChannelReader<byte[]> Outbound => _outbound.Reader;

    /// <summary>Whether untrusted data has entered this session's context; once untrusted, it stays so.</summary>
    public ContextTrust Trust { get; } = new();

    /// <summary>The tool whose result first made the context untrusted, for refusal messages.</summary>
    public string? TaintedBy { get; private set; }

    /// <summary>The decision on that result (untrusted by a policy or by the tool's default), for <c>archestra__whoami</c>.</summary>
    public ResultDecision? TaintDecision { get; private set; }

    /// <summary>Applies a result decision to the session's trust; true when this result is the one that tainted it.</summary>
    public bool ObserveResult(string tool, in ResultDecision decision)
    {
        if (!decision.TaintsContext || !Trust.IsTrusted)
        {
            return false;
        }

        // A race between two results only decides which tool is named; both taint.
        if (TaintedBy is null)
        {
            TaintDecision = decision;
            TaintedBy = tool;
        }

        Trust.MarkUntrusted();
        return true;
    }

    /// <summary>
    /// Takes the taint another replica recorded for this session (<see cref="Core.SharedTaints"/>); true when it changed this
    /// replica's view. The result that tainted it was judged there, so only the tool is known here.
    /// </summary>
    public bool ObserveTaintElsewhere(string tool)
    {
        if (!Trust.IsTrusted)
        {
            return false;
        }

        TaintedBy ??= tool;
        Trust.MarkUntrusted();
        return true;
    }

    /// <summary>SHA-256 of the id: how the session is named in shared storage, since the id itself is a bearer value.</summary>
    public byte[] Digest => _digest ??= System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Id));

    public bool HasGetStream => Volatile.Read(ref _getStreams) > 0;

    public void Touch() => LastActivityTicks = Environment.TickCount64;

    public long NextServerRequestId() => Interlocked.Increment(ref _nextServerRequestId);

    /// <summary>Queues a message for the session's GET stream; never blocks.</summary>
    public void Post(byte[] message) => _outbound.Writer.TryWrite(message);

    /// <summary>Registers a GET stream; false beyond 8 per session, a bound against a client leaking connections.</summary>
    public bool TryOpenGetStream()
    {
        if (Interlocked.Increment(ref _getStreams) <= 8)
        {
            return true;
        }

        Interlocked.Decrement(ref _getStreams);
        return false;
    }

    public void CloseGetStream() => Interlocked.Decrement(ref _getStreams);

    public void End()
    {
        _outbound.Writer.TryComplete();
        try
        {
            Lifetime.Cancel();
        }
        catch (ObjectDisposedException) { }

        foreach (var pair in InFlight)
        {
            try
            {
                pair.Value.Cancel();
            }
            catch (ObjectDisposedException) { }
        }
    }
}

/// <summary>What the client declared in initialize that the gateway must respect.</summary>
internal readonly record struct ClientCapabilities(bool Sampling, bool Elicitation, bool Roots)
{
    // The eight combinations, indexed by the bits sampling 1, elicitation 2, roots 4.
    private static readonly string[] Declarations =
    [
        "{}",
        "{\"sampling\":{}}",
        "{\"elicitation\":{}}",
        "{\"sampling\":{},\"elicitation\":{}}",
        "{\"roots\":{}}",
        "{\"sampling\":{},\"roots\":{}}",
        "{\"elicitation\":{},\"roots\":{}}",
        "{\"sampling\":{},\"elicitation\":{},\"roots\":{}}",
    ];

    /// <summary>The capabilities as a client declares them (<c>clientCapabilities</c> of a modern request's <c>_meta</c>).</summary>
    public string Json => Declarations[(Sampling ? 1 : 0) | (Elicitation ? 2 : 0) | (Roots ? 4 : 0)];

    /// <summary>What a modern request's <c>_meta</c> declares.</summary>
    public static ClientCapabilities OfModern(ReadOnlySpan<byte> body, in Archestra.Runtime.JsonRpc.JsonRpcEnvelope env)
    {
        var caps = env.MetaClientCapabilities.Of(body);
        return new ClientCapabilities(
            !Archestra.Runtime.JsonRpc.JsonObjectScan.FindValue(caps, "sampling"u8).IsEmpty,
            !Archestra.Runtime.JsonRpc.JsonObjectScan.FindValue(caps, "elicitation"u8).IsEmpty,
            !Archestra.Runtime.JsonRpc.JsonObjectScan.FindValue(caps, "roots"u8).IsEmpty
        );
    }
}

/// <summary>
/// A server-to-client request waiting for the client's answer: relayed from <see cref="Server"/>, or sent by
/// the gateway itself (an approval), in which case the answer completes <see cref="Local"/>.
/// </summary>
internal sealed record PendingServerRequest(UpstreamEntry? Server, byte[]? UpstreamId, long CreatedTicks, TaskCompletionSource<byte[]>? Local = null);
