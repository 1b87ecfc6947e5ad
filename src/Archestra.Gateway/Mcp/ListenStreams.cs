using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>Which change notifications a <c>subscriptions/listen</c> stream asked for (2026-07-28 basic/patterns/subscriptions).</summary>
[Flags]
internal enum ListenFilter : byte
{
    None = 0,
    Tools = 1,
    Prompts = 2,
    Resources = 4,
}

/// <summary>One open <c>subscriptions/listen</c> stream: its profile, filter, id, resources and the notifications waiting for it.</summary>
internal sealed class Listener(GatewayProfile profile, byte[] rawId, ListenFilter filter, IReadOnlyDictionary<string, UpstreamEntry> resources)
{
    // List changes coalesce: a stream that cannot keep up loses repeats, never the fact that something changed.
    public Channel<byte[]> Pending { get; } =
        Channel.CreateBounded<byte[]>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    public GatewayProfile Profile { get; } = profile;

    /// <summary>The listen request's JSON-RPC id: the subscription id every message on the stream carries.</summary>
    public byte[] RawId { get; } = rawId;

    public ListenFilter Filter { get; } = filter;

    /// <summary>The resource URIs whose updates this stream gets (its honoured <c>resourceSubscriptions</c>), with the server that owns each.</summary>
    public IReadOnlyDictionary<string, UpstreamEntry> Resources { get; } = resources;
}

/// <summary>
/// The open <c>subscriptions/listen</c> streams of modern clients. List changes reach them where they reach 2025 sessions'
/// GET streams (McpGateway.Broadcast), tagged with the subscription id, and only the kinds each stream asked for.
/// </summary>
internal sealed class ListenStreams
{
    private readonly ConcurrentDictionary<Listener, byte> _open = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the gateway stops: every stream then answers its listen request and ends.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public void Stop() => _stopping.Cancel();

    public Listener Open(GatewayProfile profile, byte[] rawId, ListenFilter filter, IReadOnlyDictionary<string, UpstreamEntry> resources)
    {
        var listener = new Listener(profile, rawId, filter, resources);
        _open[listener] = 0;
        return listener;
    }

    public void Close(Listener listener) => _open.TryRemove(listener, out _);

    public void Publish(UpstreamEntry entry, ReadOnlySpan<byte> message)
    {
        if (_open.IsEmpty || JsonRpcEnvelope.TryParseLenient(message, out var env) != JsonRpcParseError.None)
        {
            return;
        }

        var kind =
            env.MethodIs(message, McpMethods.ToolsListChanged) ? ListenFilter.Tools
            : env.MethodIs(message, McpMethods.PromptsListChanged) ? ListenFilter.Prompts
            : env.MethodIs(message, McpMethods.ResourcesListChanged) ? ListenFilter.Resources
            : ListenFilter.None;
        if (kind == ListenFilter.None)
        {
            return;
        }

        var method = env.Method.Of(message);
        foreach (var listener in _open.Keys)
        {
            if ((listener.Filter & kind) != 0 && listener.Profile.Uses(entry))
            {
                listener.Pending.Writer.TryWrite(Tagged(method, listener.RawId));
            }
        }
    }

    /// <summary>A resource's update reaches the streams subscribed to it through the server that owns it, with the uri.</summary>
    public void PublishUpdated(UpstreamEntry entry, string uri)
    {
        byte[]? extra = null;
        foreach (var listener in _open.Keys)
        {
            if (listener.Resources.TryGetValue(uri, out var owner) && owner == entry)
            {
                extra ??= System.Text.Encoding.UTF8.GetBytes(",\"uri\":\"" + System.Text.Json.JsonEncodedText.Encode(uri).ToString() + "\"");
                listener.Pending.Writer.TryWrite(Tagged(McpMethods.ResourcesUpdated, listener.RawId, extra));
            }
        }
    }

    /// <summary>Whether an open stream other than <paramref name="except"/> is subscribed to <paramref name="uri"/> through <paramref name="entry"/>.</summary>
    public bool AnySubscribed(string uri, UpstreamEntry entry, Listener? except)
    {
        foreach (var listener in _open.Keys)
        {
            if (listener != except && listener.Resources.TryGetValue(uri, out var owner) && owner == entry)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary><c>{"jsonrpc":"2.0","method":M,"params":{"_meta":{"io.modelcontextprotocol/subscriptionId":ID}}}</c>.</summary>
    public static byte[] Tagged(ReadOnlySpan<byte> method, ReadOnlySpan<byte> rawId, ReadOnlySpan<byte> extraParams = default)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + extraParams.Length);
        buffer.Write("{\"jsonrpc\":\"2.0\",\"method\":\""u8);
        buffer.Write(method);
        buffer.Write("\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/subscriptionId\":"u8);
        buffer.Write(rawId);
        buffer.Write("}"u8);
        buffer.Write(extraParams);
        buffer.Write("}}"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
