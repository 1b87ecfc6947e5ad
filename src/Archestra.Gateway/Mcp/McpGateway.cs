using System.Collections.Frozen;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Core;
using Archestra.Gateway.Metrics;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Stdio;
using Archestra.Runtime.Upstreams;

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

    public McpGateway(GatewayState state, ILoggerFactory loggerFactory)
    {
        State = state;
        var config = state.Config;
        var metrics = state.Metrics;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Archestra.Mcp");

        KubernetesAddress = server => ServiceDnsAddress(server, Config.Kubernetes?.Namespace ?? "default");
        var entries = new Dictionary<string, UpstreamEntry>(StringComparer.Ordinal);
        foreach (var server in config.McpServers)
        {
            entries[server.Name] = CreateEntry(server);
        }

        _entries = entries.ToFrozenDictionary(StringComparer.Ordinal);
        _profiles = BuildProfiles(config, _entries);
        var key = config.Security.SessionKey ?? System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        InputRounds = new InputRounds(config.Limits.MaxSessions);
        Sessions = new SessionStore(config.Limits.SessionIdleTimeout, config.Limits.MaxSessions, new SessionIds(key), FindProfile, OnSessionEnded)
        {
            Recovered = _ => metrics.SessionOpened(),
        };
    }

    /// <summary>The state the MCP endpoint shares with the LLM proxy (configuration, policies, audit, metrics).</summary>
    public GatewayState State { get; }

    public GatewayConfig Config => State.Config;

    public PolicySnapshot Policies => State.Policies;

    public void ApplyPolicies(PolicySnapshot snapshot) => State.ApplyPolicies(snapshot);

    /// <summary>Raised with a server's name and its complete tool list whenever the list is fetched.</summary>
    public event Action<string, ListSnapshot>? ToolsDiscovered;

    public Storage.AuditWriter? Audit => State.Audit;

    private GatewayProfile? FindProfile(string name) => Profiles.TryGetValue(name, out var profile) ? profile : null;

    public GatewayMetrics Metrics => State.Metrics;

    private FrozenDictionary<string, UpstreamEntry> _entries;
    private FrozenDictionary<string, GatewayProfile> _profiles;
    private readonly SemaphoreSlim _applying = new(1, 1);

    public FrozenDictionary<string, UpstreamEntry> Entries => Volatile.Read(ref _entries);

    /// <summary>
    /// Entries that ApplyAsync or RestartServerAsync start before swapping them in: their upstream reports Ready (and
    /// sends list_changed) while it is not yet in <see cref="Entries"/>, and those reports must not be dropped, or the
    /// entry never parses its capabilities nor warms its tool list.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<McpUpstream, UpstreamEntry> _starting = new();

    /// <summary>The entry an upstream belongs to if it is the current (or about to be current) one for its name.</summary>
    private bool TryGetCurrent(McpUpstream upstream, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out UpstreamEntry? entry)
    {
        if (Entries.TryGetValue(upstream.Name, out entry) && entry.Upstream == upstream)
        {
            return true;
        }

        return _starting.TryGetValue(upstream, out entry);
    }

    public FrozenDictionary<string, GatewayProfile> Profiles => Volatile.Read(ref _profiles);

    /// <summary>
    /// Where a server on the Kubernetes runtime is reached (its Service); set by the runtime before the first start.
    /// Until then, and without a runtime, the Service's cluster DNS name.
    /// </summary>
    public Func<McpServerConfig, Uri> KubernetesAddress { get; set; }

    internal static Uri ServiceDnsAddress(McpServerConfig server, string ns)
    {
        var settings = server.Kubernetes!;
        var name = Runtime.Kubernetes.KubernetesNames.ObjectName(server.Name);
        return new Uri($"http://{name}.{ns}.svc:{settings.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}{settings.Path}");
    }

    private UpstreamEntry CreateEntry(McpServerConfig server)
    {
        var entry = new UpstreamEntry(server.Name) { Definition = server, ToolsLoaded = (e, list) => ToolsDiscovered?.Invoke(e.Name, list) };
        // The gateway speaks Streamable HTTP to a server on Kubernetes, whatever runs in its pod.
        var options = server.Kubernetes is null
            ? ToOptions(server)
            : new HttpUpstreamOptions
            {
                Name = server.Name,
                Url = KubernetesAddress(server),
                Timeout = server.Timeout,
            };

        entry.Upstream = UpstreamFactory.Create(options, this, _loggerFactory);
        if (entry.Upstream is StdioUpstream stdio)
        {
            // Counts every restart attempt, including ones whose process never becomes ready.
            stdio.Restarted += upstream => Metrics.UpstreamRestarted(upstream.Name);
        }

        return entry;
    }

    private static FrozenDictionary<string, GatewayProfile> BuildProfiles(GatewayConfig config, FrozenDictionary<string, UpstreamEntry> entries)
    {
        var profiles = new Dictionary<string, GatewayProfile>(StringComparer.Ordinal);
        foreach (var profile in config.Profiles)
        {
            var servers = new List<UpstreamEntry>();
            foreach (var name in profile.Servers)
            {
                servers.Add(entries[name]);
            }

            profiles[profile.Name] = new GatewayProfile(profile, servers);
        }

        return profiles.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>
    /// Makes a complete, validated configuration the running one: servers that are new start, servers that are
    /// gone stop, servers whose definition changed restart; profiles (servers, tokens, prefix) and policies are
    /// swapped in. Calls in flight finish on what they started with; sessions of a removed profile end. Listen
    /// addresses, limits and security keep their values from start-up.
    /// </summary>
    public async Task ApplyAsync(GatewayConfig config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var old = Entries;
            var entries = new Dictionary<string, UpstreamEntry>(StringComparer.Ordinal);
            var started = new List<UpstreamEntry>();
            foreach (var server in config.McpServers)
            {
                if (old.TryGetValue(server.Name, out var existing) && existing.Definition is { } definition && SameServer(definition, server))
                {
                    entries[server.Name] = existing;
                }
                else
                {
                    var entry = CreateEntry(server);
                    entries[server.Name] = entry;
                    started.Add(entry);
                }
            }

            var stopped = new List<UpstreamEntry>();
            foreach (var entry in old.Values)
            {
                if (!entries.TryGetValue(entry.Name, out var kept) || kept != entry)
                {
                    stopped.Add(entry);
                }
            }

            var frozen = entries.ToFrozenDictionary(StringComparer.Ordinal);
            var profiles = BuildProfiles(config, frozen);

            // The new upstreams connect before they are routed to, so the first call does not race the handshake.
            var starts = new List<Task>();
            foreach (var entry in started)
            {
                _starting[entry.Upstream] = entry;
                Metrics.SetUpstreamUp(entry.Name, false);
                starts.Add(StartOneAsync(entry, cancellationToken));
            }

            try
            {
                await Task.WhenAll(starts).ConfigureAwait(false);
                Volatile.Write(ref _entries, frozen);
            }
            finally
            {
                foreach (var entry in started)
                {
                    _starting.TryRemove(entry.Upstream, out _);
                }
            }

            State.Swap(config);
            SwapProfiles(profiles);

            foreach (var entry in stopped)
            {
                await StopOneAsync(entry).ConfigureAwait(false);
            }
        }
        finally
        {
            _applying.Release();
        }
    }

    /// <summary>Stops a server's connection (and process) and starts a fresh one; false for an unknown server.</summary>
    public async Task<bool> RestartServerAsync(string name, CancellationToken cancellationToken)
    {
        if (!Entries.TryGetValue(name, out var entry) || entry.Definition is not { } definition)
        {
            return false;
        }

        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!Entries.TryGetValue(name, out var current) || current != entry)
            {
                return true;
            }

            var fresh = CreateEntry(definition);
            Metrics.SetUpstreamUp(name, false);
            _starting[fresh.Upstream] = fresh;
            var entries = new Dictionary<string, UpstreamEntry>(Entries, StringComparer.Ordinal) { [name] = fresh };
            var frozen = entries.ToFrozenDictionary(StringComparer.Ordinal);
            try
            {
                await StartOneAsync(fresh, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _entries, frozen);
            }
            finally
            {
                _starting.TryRemove(fresh.Upstream, out _);
            }

            SwapProfiles(BuildProfiles(Config, frozen));

            await StopOneAsync(entry).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _applying.Release();
        }
    }

    /// <summary>
    /// Makes <paramref name="profiles"/> the routed ones and moves every session onto its profile's new instance; sessions whose profile is
    /// gone end.
    /// </summary>
    private void SwapProfiles(FrozenDictionary<string, GatewayProfile> profiles)
    {
        Volatile.Write(ref _profiles, profiles);
        foreach (var session in Sessions.All)
        {
            if (profiles.TryGetValue(session.Profile.Name, out var profile))
            {
                session.Profile = profile;
            }
            else
            {
                Sessions.Remove(session.Id);
            }
        }
    }

    private async Task StopOneAsync(UpstreamEntry entry)
    {
        entry.Listening?.Cancel();
        try
        {
            await entry.Upstream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.UpstreamStopFailed(_logger, entry.Name, ex.Message);
        }
    }

    /// <summary>Definitions compare by content: the config records hold lists and maps, which records compare by reference.</summary>
    internal static bool SameServer(McpServerConfig a, McpServerConfig b) =>
        a.Name == b.Name
        && a.Kind == b.Kind
        && a.Command == b.Command
        && a.Cwd == b.Cwd
        && a.Url == b.Url
        && a.Timeout == b.Timeout
        && a.Args.SequenceEqual(b.Args)
        && SameMap(a.Env, b.Env)
        && SameMap(a.Headers, b.Headers)
        && Runtime.Kubernetes.KubernetesServerSettings.Same(a.Kubernetes, b.Kubernetes);

    private static bool SameMap(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var pair in a)
        {
            if (!b.TryGetValue(pair.Key, out var value) || value != pair.Value)
            {
                return false;
            }
        }

        return true;
    }

    public SessionStore Sessions { get; }

    public ILogger Logger => _logger;

    private static UpstreamOptions ToOptions(McpServerConfig server) =>
        server.Kind switch
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
        // A replaced or removed upstream keeps reporting while it stops; only the current one counts.
        if (!TryGetCurrent(upstream, out var entry))
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
                Broadcast(entry, JsonRpcWriter.Notification(McpMethods.ToolsListChanged));
                Broadcast(entry, JsonRpcWriter.Notification(McpMethods.PromptsListChanged));
                Broadcast(entry, JsonRpcWriter.Notification(McpMethods.ResourcesListChanged));
            }

            // Warm the tool list so calls can be validated and labelled before the first tools/list.
            _ = entry.GetListAsync(ListKind.Tools, OnListFailed);
            Listen(entry, upstream);
        }
        else if (state == UpstreamState.Down)
        {
            Log.UpstreamDown(_logger, entry.Name, detail ?? "unknown cause");
        }
    }

    public void OnUnsolicited(McpUpstream upstream, UpstreamMessage message)
    {
        if (!TryGetCurrent(upstream, out var entry))
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

        // A modern server's notifications carry its own subscription id in _meta: clients get the plain notification.
        var plain = upstream.Era == McpEra.Modern;
        if (message.MethodIs(McpMethods.ToolsListChanged))
        {
            entry.Invalidate(ListKind.Tools);
            Broadcast(entry, plain ? JsonRpcWriter.Notification(McpMethods.ToolsListChanged) : message.Buffer);

            // Re-warm at once: calls are validated and labelled against this list, and servers often
            // announce a change right after initialize (server-everything registers tools then), which
            // would otherwise discard the start-up fetch until a client happens to list tools.
            _ = entry.GetListAsync(ListKind.Tools, OnListFailed);
        }
        else if (message.MethodIs(McpMethods.PromptsListChanged))
        {
            entry.Invalidate(ListKind.Prompts);
            Broadcast(entry, plain ? JsonRpcWriter.Notification(McpMethods.PromptsListChanged) : message.Buffer);
        }
        else if (message.MethodIs(McpMethods.ResourcesListChanged))
        {
            entry.Invalidate(ListKind.Resources);
            entry.Invalidate(ListKind.ResourceTemplates);
            Broadcast(entry, plain ? JsonRpcWriter.Notification(McpMethods.ResourcesListChanged) : message.Buffer);
        }
        else if (message.MethodIs(McpMethods.ResourcesUpdated))
        {
            var uri = JsonObjectScan.ReadString(message.Span, message.Envelope.ParamsUri);
            if (uri is null)
            {
                return;
            }

            var update = plain
                ? Encoding.UTF8.GetBytes(
                    $"{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":{{\"uri\":\"{JsonEncodedText.Encode(uri)}\"}}}}"
                )
                : message.Buffer;
            foreach (var session in Sessions.All)
            {
                if (session.Subscriptions.TryGetValue(uri, out var owner) && owner == entry)
                {
                    session.Post(update);
                }
            }

            Listeners.PublishUpdated(entry, uri);
        }
        else if (message.MethodIs(McpMethods.Message))
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

    /// <summary>Modern clients' calls to 2025 servers held while the server waits for the client's input.</summary>
    public InputRounds InputRounds { get; }

    /// <summary>
    /// A modern server has no GET stream: the gateway learns of its list changes through its own <c>subscriptions/listen</c>
    /// (2026-07-28 basic/patterns/subscriptions), asking for the lists the server announces. What that stream carries reaches
    /// <see cref="OnUnsolicited"/> like a 2025 server's notifications. A stream that ends is opened again (1 s doubling to
    /// 30 s), dropping the cached lists, since changes may have gone unheard; a reconnect replaces it.
    /// </summary>
    private void Listen(UpstreamEntry entry, McpUpstream upstream)
    {
        var filter = entry.Capabilities.ListChanged;
        var previous = entry.Listening;
        entry.Listening = null;
        previous?.Cancel();
        if (upstream.Era != McpEra.Modern || (filter == ListenFilter.None && entry.WatchedResources.IsEmpty))
        {
            return;
        }

        var stop = new CancellationTokenSource();
        entry.Listening = stop;
        _ = ListenLoopAsync(entry, upstream, filter, stop.Token);
    }

    private async Task ListenLoopAsync(UpstreamEntry entry, McpUpstream upstream, ListenFilter filter, CancellationToken stop)
    {
        var members = new List<string>(4);
        foreach (
            var (kind, name) in new[]
            {
                (ListenFilter.Tools, "toolsListChanged"),
                (ListenFilter.Prompts, "promptsListChanged"),
                (ListenFilter.Resources, "resourcesListChanged"),
            }
        )
        {
            if ((filter & kind) != 0)
            {
                members.Add($"\"{name}\":true");
            }
        }

        if (!entry.WatchedResources.IsEmpty)
        {
            var uris = entry.WatchedResources.Keys.Select(u => "\"" + JsonEncodedText.Encode(u).ToString() + "\"");
            members.Add("\"resourceSubscriptions\":[" + string.Join(",", uris) + "]");
        }

        var notifications = "{" + string.Join(",", members) + "}";
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 0; !stop.IsCancellationRequested && upstream.State == UpstreamState.Ready; attempt++)
        {
            if (attempt > 0)
            {
                // Changes may have happened while nobody listened.
                entry.Invalidate(ListKind.Tools);
                entry.Invalidate(ListKind.Prompts);
                entry.Invalidate(ListKind.Resources);
                entry.Invalidate(ListKind.ResourceTemplates);
            }

            var id = upstream.NextId();
            var request = Encoding.UTF8.GetBytes(
                $"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"subscriptions/listen\",\"params\":{{\"notifications\":{notifications}}}}}"
            );
            var result = await upstream.HoldOpenAsync(request, id, stop).ConfigureAwait(false);
            if (stop.IsCancellationRequested)
            {
                return;
            }

            if (result.Response is { Kind: JsonRpcKind.ErrorResponse } refused && ModernResults.ErrorCodeIs(refused, ErrorCodes.MethodNotFound))
            {
                // A server that announces list changes but has no subscriptions/listen: its lists refresh by TTL only.
                Log.ListenEnded(_logger, entry.Name, "the server has no subscriptions/listen; its lists refresh by their ttlMs");
                return;
            }

            Log.ListenEnded(_logger, entry.Name, result.Detail ?? (result.Response is { Kind: JsonRpcKind.ErrorResponse } ? "refused" : "the server ended it"));
            try
            {
                await Task.Delay(delay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    /// <summary>The subscriptions/listen streams of MCP 2026-07-28 clients; list changes reach them with the sessions.</summary>
    public ListenStreams Listeners { get; } = new();

    private void Broadcast(UpstreamEntry entry, byte[] message)
    {
        Listeners.Publish(entry, message);
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
                _ = SubscribeUpstreamAsync(pair.Value, pair.Key, subscribe: false);
            }
        }
    }

    /// <summary>Whether a session or listen stream, other than those named, still wants updates of a URI from <paramref name="entry"/>.</summary>
    public bool AnySubscriber(string uri, UpstreamEntry entry, McpSession? except, Listener? exceptListener = null)
    {
        foreach (var session in Sessions.All)
        {
            if (session != except && session.Subscriptions.TryGetValue(uri, out var owner) && owner == entry)
            {
                return true;
            }
        }

        return Listeners.AnySubscribed(uri, entry, exceptListener);
    }

    /// <summary>Asks the server that owns <paramref name="uri"/> for its updates (2025 resources/subscribe); false when it refused or failed.</summary>
    public async Task<bool> SubscribeUpstreamAsync(UpstreamEntry entry, string uri, bool subscribe)
    {
        if (entry.Upstream.Era == McpEra.Modern)
        {
            // A modern server has no resources/subscribe: the URI joins (or leaves) the gateway's own listen on it.
            var changed = subscribe ? entry.WatchedResources.TryAdd(uri, 0) : entry.WatchedResources.TryRemove(uri, out _);
            if (changed)
            {
                Listen(entry, entry.Upstream);
            }

            return true;
        }

        var id = entry.Upstream.NextId();
        var request = JsonRpcWriter.Request(id, subscribe ? "resources/subscribe" : "resources/unsubscribe", "uri", uri);
        var result = await entry.Upstream.CallAsync(request, id, idempotent: true, observer: null, CancellationToken.None).ConfigureAwait(false);
        return result.Response is { Kind: JsonRpcKind.Response };
    }

    public async ValueTask DisposeAsync()
    {
        Sessions.Dispose();
        Listeners.Stop();
        foreach (var entry in Entries.Values)
        {
            await StopOneAsync(entry).ConfigureAwait(false);
        }

        _applying.Dispose();
    }
}
