using System.Collections.Frozen;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Metrics;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Stdio;
using Archestra.Runtime.Upstreams;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// The MCP gateway's state: upstream connections, profiles and sessions. It also receives everything
/// upstreams send outside of a call and fans it out to the sessions that use the server.
/// </summary>
internal sealed class McpGateway : IUpstreamListener, IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly HashSet<string> _everReady = new(StringComparer.Ordinal);

    public McpGateway(GatewayConfig config, GatewayMetrics metrics, ILoggerFactory loggerFactory)
    {
        Config = config;
        Metrics = metrics;
        _policies = config.Policies;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Archestra.Mcp");

        var entries = new Dictionary<string, UpstreamEntry>(StringComparer.Ordinal);
        foreach (var server in config.McpServers)
        {
            var entry = new UpstreamEntry(server.Name);
            entry.Upstream = UpstreamFactory.Create(ToOptions(server), this, loggerFactory);
            if (entry.Upstream is StdioUpstream stdio)
            {
                // Counts every restart attempt, including ones whose process never becomes ready.
                stdio.Restarted += upstream => Metrics.UpstreamRestarted(upstream.Name);
            }

            entries[server.Name] = entry;
        }

        Entries = entries.ToFrozenDictionary(StringComparer.Ordinal);

        var profiles = new Dictionary<string, GatewayProfile>(StringComparer.Ordinal);
        foreach (var profile in config.Profiles)
        {
            var servers = new List<UpstreamEntry>();
            foreach (var name in profile.Servers)
            {
                servers.Add(Entries[name]);
            }

            profiles[profile.Name] = new GatewayProfile(profile, servers);
        }

        Profiles = profiles.ToFrozenDictionary(StringComparer.Ordinal);
        var key = config.Security.SessionKey ?? System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        Sessions = new SessionStore(config.Limits.SessionIdleTimeout, config.Limits.MaxSessions, new SessionIds(key), FindProfile, OnSessionEnded)
        {
            Recovered = _ => metrics.SessionOpened(),
        };
    }

    public GatewayConfig Config { get; }

    private PolicySnapshot _policies = PolicySnapshot.Empty;

    /// <summary>
    /// The compiled policies. Replaced whole by <see cref="ApplyPolicies"/>; a call reads it once and keeps
    /// that snapshot to the end, so a reload never mixes two policy sets in one decision.
    /// </summary>
    public PolicySnapshot Policies => Volatile.Read(ref _policies);

    public void ApplyPolicies(PolicySnapshot snapshot) => Volatile.Write(ref _policies, snapshot);

    private GatewayProfile? FindProfile(string name) => Profiles.TryGetValue(name, out var profile) ? profile : null;

    public GatewayMetrics Metrics { get; }

    public FrozenDictionary<string, UpstreamEntry> Entries { get; }

    public FrozenDictionary<string, GatewayProfile> Profiles { get; }

    public SessionStore Sessions { get; }

    public ILogger Logger => _logger;

    internal static UpstreamOptions ToOptions(McpServerConfig server) => server.Kind switch
    {
        McpServerKind.Stdio => new StdioUpstreamOptions
        {
            Name = server.Name,
            Command = server.Command!,
            Args = server.Args,
            Env = server.Env,
            WorkingDirectory = server.Cwd,
            Timeout = server.Timeout,
        },
        _ => new HttpUpstreamOptions
        {
            Name = server.Name,
            Url = server.Url!,
            Headers = server.Headers,
            Transport = server.Kind == McpServerKind.Sse ? HttpUpstreamTransport.Sse : HttpUpstreamTransport.StreamableHttp,
            Timeout = server.Timeout,
        },
    };

    /// <summary>Connects every upstream; returns when each has made its first attempt.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var starts = new List<Task>();
        foreach (var entry in Entries.Values)
        {
            Metrics.SetUpstreamUp(entry.Name, false);
            starts.Add(StartOneAsync(entry, cancellationToken));
        }

        await Task.WhenAll(starts).ConfigureAwait(false);
    }

    private async Task StartOneAsync(UpstreamEntry entry, CancellationToken cancellationToken)
    {
        try
        {
            await entry.Upstream.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.UpstreamStartFailed(_logger, entry.Name, ex.Message);
        }
    }

    public void OnStateChanged(McpUpstream upstream, UpstreamState state, string? detail)
    {
        if (!Entries.TryGetValue(upstream.Name, out var entry))
        {
            return;
        }

        Metrics.SetUpstreamUp(entry.Name, state == UpstreamState.Ready);
        if (state == UpstreamState.Ready)
        {
            entry.OnConnected();
            bool reconnect;
            lock (_everReady)
            {
                reconnect = !_everReady.Add(entry.Name);
            }

            Log.UpstreamReady(_logger, entry.Name, upstream.ProtocolVersion ?? "?");
            if (reconnect)
            {
                if (upstream is not StdioUpstream)
                {
                    Metrics.UpstreamRestarted(entry.Name);
                }

                // The restarted server may offer different tools; tell every session that uses it.
                Broadcast(entry, JsonRpcWriter.Notification(Methods.ToolsListChanged));
                Broadcast(entry, JsonRpcWriter.Notification(Methods.PromptsListChanged));
                Broadcast(entry, JsonRpcWriter.Notification(Methods.ResourcesListChanged));
            }

            // Warm the tool list so calls can be validated and labelled before the first tools/list.
            _ = entry.GetListAsync(ListKind.Tools, OnListFailed);
        }
        else if (state == UpstreamState.Down)
        {
            Log.UpstreamDown(_logger, entry.Name, detail ?? "unknown cause");
        }
    }

    public void OnUnsolicited(McpUpstream upstream, UpstreamMessage message)
    {
        if (!Entries.TryGetValue(upstream.Name, out var entry))
        {
            return;
        }

        if (message.Kind == JsonRpcKind.Request)
        {
            // A server request that belongs to no call in flight: give it to one session that uses the
            // server and has a GET stream open (the only place such a request can be delivered).
            foreach (var session in Sessions.All)
            {
                if (session.Profile.Uses(entry) && session.HasGetStream)
                {
                    var forClient = CallRelay.RelayServerRequest(session, entry, message, RejectServerRequest);
                    if (forClient is not null)
                    {
                        session.Post(forClient);
                    }

                    return;
                }
            }

            RejectServerRequest(entry, message, "no client session is connected to receive it");
            return;
        }

        if (message.MethodIs(Methods.ToolsListChanged))
        {
            entry.Invalidate(ListKind.Tools);
            Broadcast(entry, message.Buffer);

            // Re-warm at once: calls are validated and labelled against this list, and servers often
            // announce a change right after initialize (server-everything registers tools then), which
            // would otherwise discard the start-up fetch until a client happens to list tools.
            _ = entry.GetListAsync(ListKind.Tools, OnListFailed);
        }
        else if (message.MethodIs(Methods.PromptsListChanged))
        {
            entry.Invalidate(ListKind.Prompts);
            Broadcast(entry, message.Buffer);
        }
        else if (message.MethodIs(Methods.ResourcesListChanged))
        {
            entry.Invalidate(ListKind.Resources);
            entry.Invalidate(ListKind.ResourceTemplates);
            Broadcast(entry, message.Buffer);
        }
        else if (message.MethodIs(Methods.ResourcesUpdated))
        {
            var uri = JsonObjectScan.ReadString(message.Span, message.Envelope.ParamsUri);
            if (uri is null)
            {
                return;
            }

            foreach (var session in Sessions.All)
            {
                if (session.Subscriptions.TryGetValue(uri, out var owner) && owner == entry)
                {
                    session.Post(message.Buffer);
                }
            }
        }
        else if (message.MethodIs(Methods.Message))
        {
            foreach (var session in Sessions.All)
            {
                if (session.Profile.Uses(entry) && LogFilter.Passes(session, message))
                {
                    session.Post(message.Buffer);
                }
            }
        }
    }

    private void Broadcast(UpstreamEntry entry, byte[] message)
    {
        foreach (var session in Sessions.All)
        {
            if (session.Profile.Uses(entry))
            {
                session.Post(message);
            }
        }
    }

    /// <summary>Answers an upstream's request with an error because no client can take it.</summary>
    public void RejectServerRequest(UpstreamEntry entry, UpstreamMessage request, string reason)
    {
        var method = Encoding.UTF8.GetString(request.Envelope.Method.Of(request.Span));
        Log.ServerRequestRejected(_logger, entry.Name, method, reason);
        var error = JsonRpcWriter.Error(request.Envelope.Id.Of(request.Span), ErrorCodes.MethodNotFound, $"Archestra gateway cannot relay {method}: {reason}");
        _ = SendQuietlyAsync(entry, error);
    }

    public static async Task SendQuietlyAsync(UpstreamEntry entry, byte[] message)
    {
        try
        {
            await entry.Upstream.SendAsync(message, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
        {
            // The upstream is gone; its own reader reports that.
        }
    }

    public void OnListFailed(UpstreamEntry entry, string detail)
    {
        Metrics.UpstreamListFailed(entry.Name);
        Log.ListFailed(_logger, entry.Name, detail);
    }

    private void OnSessionEnded(McpSession session)
    {
        Metrics.SessionClosed();
        foreach (var pair in session.Subscriptions)
        {
            if (!AnySubscriber(pair.Key, pair.Value, except: session))
            {
                var id = pair.Value.Upstream.NextId();
                var request = JsonRpcWriter.Request(id, "resources/unsubscribe", "uri", pair.Key);
                _ = pair.Value.Upstream.CallAsync(request, id, idempotent: true, observer: null, CancellationToken.None).AsTask();
            }
        }
    }

    public bool AnySubscriber(string uri, UpstreamEntry entry, McpSession except)
    {
        foreach (var session in Sessions.All)
        {
            if (session != except && session.Subscriptions.TryGetValue(uri, out var owner) && owner == entry)
            {
                return true;
            }
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        Sessions.Dispose();
        foreach (var entry in Entries.Values)
        {
            try
            {
                await entry.Upstream.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.UpstreamStopFailed(_logger, entry.Name, ex.Message);
            }
        }
    }
}
