using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>What an upstream declared in its initialize answer.</summary>
/// <param name="ListChanged">The lists whose changes the server announces (<c>listChanged: true</c>), as a listen filter.</param>
internal readonly record struct UpstreamCapabilities(
    bool Tools,
    bool Prompts,
    bool Resources,
    bool ResourcesSubscribe,
    bool Logging,
    bool Completions,
    ListenFilter ListChanged = ListenFilter.None
)
{
    public static UpstreamCapabilities Parse(byte[]? initializeResult)
    {
        if (initializeResult is null)
        {
            return default;
        }

        try
        {
            using var doc = JsonDocument.Parse(initializeResult);
            if (!doc.RootElement.TryGetProperty("capabilities"u8, out var caps) || caps.ValueKind != JsonValueKind.Object)
            {
                return default;
            }

            var subscribe =
                caps.TryGetProperty("resources"u8, out var res)
                && res.ValueKind == JsonValueKind.Object
                && res.TryGetProperty("subscribe"u8, out var sub)
                && sub.ValueKind == JsonValueKind.True;
            return new UpstreamCapabilities(
                caps.TryGetProperty("tools"u8, out _),
                caps.TryGetProperty("prompts"u8, out _),
                caps.TryGetProperty("resources"u8, out _),
                subscribe,
                caps.TryGetProperty("logging"u8, out _),
                caps.TryGetProperty("completions"u8, out _),
                (Announces(caps, "tools"u8) ? ListenFilter.Tools : ListenFilter.None)
                    | (Announces(caps, "prompts"u8) ? ListenFilter.Prompts : ListenFilter.None)
                    | (Announces(caps, "resources"u8) ? ListenFilter.Resources : ListenFilter.None)
            );
        }
        catch (JsonException)
        {
            return default;
        }
    }

    private static bool Announces(JsonElement caps, ReadOnlySpan<byte> kind) =>
        caps.TryGetProperty(kind, out var value)
        && value.ValueKind == JsonValueKind.Object
        && value.TryGetProperty("listChanged"u8, out var changed)
        && changed.ValueKind == JsonValueKind.True;
}

/// <summary>One item of an upstream list (a tool, prompt, resource or template) kept as its raw JSON.</summary>
internal sealed class ListItem
{
    private byte[]? _prefixed;
    private string? _qualified;
    private ParamHeader[]? _paramHeaders;

    public ListItem(string key, byte[] json)
    {
        Key = key;
        Json = json;
    }

    public string Key { get; }

    public byte[] Json { get; }

    /// <summary>The item with its <c>name</c> prefixed by <c>{server}__</c>, computed once.</summary>
    public byte[] Prefixed(byte[] serverName) => _prefixed ??= NamePrefixer.Prefix(Json, serverName);

    /// <summary>The namespaced name <c>{server}__{key}</c> that policies use, whatever the profile shows; computed once.</summary>
    public string Qualified(string serverName) => _qualified ??= McpProtocol.Qualify(serverName, Key);

    /// <summary>The arguments a tool's schema mirrors into <c>Mcp-Param-*</c> headers (SEP-2243), read once; empty for most tools.</summary>
    public ParamHeader[] ParamHeaders => _paramHeaders ??= Mcp.ParamHeaders.Scan(Json);

    /// <summary>A tool's description and input schema (raw JSON, <c>{}</c> when absent), read from its listing. Not for the hot path.</summary>
    public (string? Description, string InputSchema) ReadToolInfo()
    {
        using var json = JsonDocument.Parse(Json);
        var root = json.RootElement;
        var description = root.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        return (description, root.TryGetProperty("inputSchema", out var schema) ? schema.GetRawText() : "{}");
    }
}

internal static class NamePrefixer
{
    /// <summary>Inserts <c>{server}__</c> at the start of the top-level "name" string of an object.</summary>
    public static byte[] Prefix(byte[] json, byte[] serverName)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                var insertAt = (int)reader.TokenStartIndex + 1;
                var result = new byte[json.Length + serverName.Length + 2];
                json.AsSpan(0, insertAt).CopyTo(result);
                serverName.CopyTo(result.AsSpan(insertAt));
                "__"u8.CopyTo(result.AsSpan(insertAt + serverName.Length));
                json.AsSpan(insertAt).CopyTo(result.AsSpan(insertAt + serverName.Length + 2));
                return result;
            }

            reader.Read();
            reader.Skip();
        }

        return json;
    }
}

/// <summary>An upstream's complete list (all pages fetched), immutable once built.</summary>
internal sealed class ListSnapshot
{
    public static readonly ListSnapshot Empty = new([]);

    public ListSnapshot(ListItem[] items)
    {
        Items = items;
        var index = new Dictionary<string, ListItem>(items.Length, StringComparer.Ordinal);
        foreach (var item in items)
        {
            index.TryAdd(item.Key, item);
        }

        Index = index;
        Lookup = index.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public ListItem[] Items { get; }

    /// <summary>When a modern server's <c>ttlMs</c> runs out (<see cref="Environment.TickCount64"/>); 0: fresh until list_changed or reconnect.</summary>
    public long ExpiresAt { get; init; }

    public bool IsStale => ExpiresAt != 0 && Environment.TickCount64 >= ExpiresAt;

    public Dictionary<string, ListItem> Index { get; }

    public Dictionary<string, ListItem>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; }

    /// <summary>The item with a UTF-8 name, or null when the list has no such item.</summary>
    public ListItem? Find(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > 512)
        {
            return null;
        }

        Span<char> chars = stackalloc char[utf8.Length];
        var status = System.Text.Unicode.Utf8.ToUtf16(utf8, chars, out _, out var written, replaceInvalidSequences: false);
        return status == OperationStatus.Done && Lookup.TryGetValue(chars[..written], out var item) ? item : null;
    }
}

internal enum ListKind
{
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

/// <summary>
/// A configured MCP server inside the gateway: its connection plus cached lists. Lists are fetched
/// once (all pages) and served from memory until the upstream says list_changed or reconnects.
/// </summary>
internal sealed class UpstreamEntry
{
    private readonly ListSnapshot?[] _lists = new ListSnapshot?[4];
    private readonly Task<ListSnapshot?>?[] _loading = new Task<ListSnapshot?>?[4];
    private readonly int[] _generation = new int[4];
    private readonly Lock _gate = new();
    private McpUpstream _upstream = null!;

    public UpstreamEntry(string name)
    {
        Name = name;
        NameUtf8 = Encoding.UTF8.GetBytes(name);
    }

    /// <summary>Called with each freshly fetched tool list (at connect and after list_changed), e.g. to record it.</summary>
    public Action<UpstreamEntry, ListSnapshot>? ToolsLoaded { get; set; }

    /// <summary>The definition it was created from, to tell whether a new configuration changes it.</summary>
    public Configuration.McpServerConfig? Definition { get; init; }

    public string Name { get; }

    public byte[] NameUtf8 { get; }

    public McpUpstream Upstream
    {
        get => _upstream;
        set
        {
            _upstream = value;
            value.ToolParamHeaders = DeclaredParamHeaders;
        }
    }

    public UpstreamCapabilities Capabilities { get; private set; }

    public bool IsReady => Upstream.State == UpstreamState.Ready;

    /// <summary>The resource URIs the gateway's listen on a modern server subscribes to: those its clients asked for.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, byte> WatchedResources { get; } = new(StringComparer.Ordinal);

    /// <summary>Ends the gateway's <c>subscriptions/listen</c> on a modern server; replaced on every (re)connect.</summary>
    public CancellationTokenSource? Listening { get; set; }

    /// <summary>Set when the upstream (re)connects; drops every cached list.</summary>
    public void OnConnected()
    {
        Capabilities = UpstreamCapabilities.Parse(Upstream.InitializeResult);
        for (var i = 0; i < _lists.Length; i++)
        {
            Invalidate((ListKind)i);
        }
    }

    public void Invalidate(ListKind kind)
    {
        lock (_gate)
        {
            _generation[(int)kind]++;
            _lists[(int)kind] = null;
            _loading[(int)kind] = null;
        }
    }

    /// <summary>The <c>Mcp-Param-*</c> declarations of one of this server's tools in its cached listing; none when not listed.</summary>
    private ParamHeader[] DeclaredParamHeaders(string tool) =>
        Cached(ListKind.Tools) is { } tools && tools.Index.TryGetValue(tool, out var item) ? item.ParamHeaders : [];

    /// <summary>The cached list if it is loaded (no I/O).</summary>
    public ListSnapshot? Cached(ListKind kind) => Volatile.Read(ref _lists[(int)kind]);

    /// <summary>The list, fetching it (once, shared by concurrent callers) when not cached. Null when the upstream failed.</summary>
    public Task<ListSnapshot?> GetListAsync(ListKind kind, Action<UpstreamEntry, string> onFailure)
    {
        if (Volatile.Read(ref _lists[(int)kind]) is { IsStale: false } cached)
        {
            return Task.FromResult<ListSnapshot?>(cached);
        }

        lock (_gate)
        {
            if (_lists[(int)kind] is { IsStale: false } again)
            {
                return Task.FromResult<ListSnapshot?>(again);
            }

            if (_loading[(int)kind] is { } loading)
            {
                return loading;
            }

            var generation = _generation[(int)kind];
            var task = LoadAsync(kind, generation, onFailure);
            _loading[(int)kind] = task;
            return task;
        }
    }

    private bool Supports(ListKind kind) =>
        kind switch
        {
            ListKind.Tools => Capabilities.Tools,
            ListKind.Prompts => Capabilities.Prompts,
            _ => Capabilities.Resources,
        };

    private async Task<ListSnapshot?> LoadAsync(ListKind kind, int generation, Action<UpstreamEntry, string> onFailure)
    {
        await Task.Yield();
        ListSnapshot? result;
        if (!IsReady)
        {
            onFailure(this, Upstream.StateDetail ?? "not connected");
            result = null;
        }
        else if (!Supports(kind))
        {
            result = ListSnapshot.Empty;
        }
        else
        {
            result = await FetchAllPagesAsync(kind, onFailure).ConfigureAwait(false);
        }

        var current = false;
        lock (_gate)
        {
            if (_generation[(int)kind] == generation)
            {
                _loading[(int)kind] = null;
                if (result is not null)
                {
                    _lists[(int)kind] = result;
                    current = true;
                }
            }
        }

        if (current && kind == ListKind.Tools && result!.Items.Length > 0)
        {
            ToolsLoaded?.Invoke(this, result);
        }

        return result;
    }

    /// <summary>The MCP method that lists a kind, the result property holding the items, and the item key.</summary>
    internal static (string Method, string Property, string Key) Describe(ListKind kind) =>
        kind switch
        {
            ListKind.Tools => ("tools/list", "tools", "name"),
            ListKind.Prompts => ("prompts/list", "prompts", "name"),
            ListKind.Resources => ("resources/list", "resources", "uri"),
            _ => ("resources/templates/list", "resourceTemplates", "uriTemplate"),
        };

    /// <summary>Pages through the upstream's list. 1000 pages is a loop guard against a server that always returns a cursor.</summary>
    private async Task<ListSnapshot?> FetchAllPagesAsync(ListKind kind, Action<UpstreamEntry, string> onFailure)
    {
        var (method, property, keyName) = Describe(kind);
        var items = new List<ListItem>();
        string? cursor = null;

        // A modern server says how long each page stays fresh (2026-07-28 server/utilities/caching); the list is as fresh as its stalest page.
        var honourTtl = Upstream.Era == McpEra.Modern;
        long ttl = long.MaxValue;
        for (var page = 0; page < 1000; page++)
        {
            var id = Upstream.NextId();
            var request = BuildListRequest(id, method, cursor);
            var result = await Upstream.CallAsync(request, id, idempotent: true, observer: null, CancellationToken.None).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                onFailure(this, result.Detail ?? result.Error.ToString());
                return null;
            }

            var response = result.Response!;
            if (response.Kind != JsonRpcKind.Response)
            {
                onFailure(this, $"{method} returned an error: {Encoding.UTF8.GetString(response.Envelope.Error.Of(response.Span))}");
                return null;
            }

            try
            {
                using var doc = JsonDocument.Parse(response.Buffer.AsMemory(response.Envelope.Result.Start, response.Envelope.Result.Length));
                var root = doc.RootElement;
                if (root.TryGetProperty(property, out var array) && array.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in array.EnumerateArray())
                    {
                        if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty(keyName, out var key) && key.ValueKind == JsonValueKind.String)
                        {
                            items.Add(new ListItem(key.GetString()!, Encoding.UTF8.GetBytes(item.GetRawText())));
                        }
                    }
                }

                cursor = root.TryGetProperty("nextCursor"u8, out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
                if (honourTtl)
                {
                    ttl = Math.Min(ttl, root.TryGetProperty("ttlMs"u8, out var hint) && hint.TryGetInt64(out var ms) ? Math.Max(ms, 0) : 0);
                }
            }
            catch (JsonException ex)
            {
                onFailure(this, $"{method} returned invalid JSON: {ex.Message}");
                return null;
            }

            if (string.IsNullOrEmpty(cursor))
            {
                // ttlMs 0 is "immediately stale": the next request fetches again (ExpiresAt 0 would mean "never").
                return new ListSnapshot([.. items]) { ExpiresAt = honourTtl ? Math.Max(1, Environment.TickCount64 + Math.Min(ttl, int.MaxValue)) : 0 };
            }
        }

        onFailure(this, $"{method} kept returning a nextCursor after 1000 pages");
        return null;
    }

    private static byte[] BuildListRequest(long id, string method, string? cursor) => JsonRpcWriter.Request(id, method, "cursor", cursor);
}
