using Archestra.Gateway.Configuration;
using Archestra.Gateway.Security;
using Archestra.Storage;

namespace Archestra.Gateway.Mcp;

/// <summary>A profile ready for routing: its upstreams in order, its prefix rule and its token hashes.</summary>
internal sealed class GatewayProfile : IBearerProfile
{
    private readonly byte[][] _tokenHashes;

    public GatewayProfile(ProfileConfig config, IReadOnlyList<UpstreamEntry> servers)
    {
        Name = config.Name;
        Servers = [.. servers];
        Prefixed = config.ToolPrefix == ToolPrefixMode.Always || servers.Count > 1;
        _tokenHashes = [.. config.TokenHashes];
        Config = config;
        Selections = new ToolSelection?[Servers.Length];
        _views = new ToolView?[Servers.Length];
        for (var i = 0; i < Servers.Length; i++)
        {
            if (config.ToolSelection.TryGetValue(Servers[i].Name, out var selection))
            {
                Selections[i] = new ToolSelection(Servers[i].Name, selection);
            }
        }
    }

    /// <summary>The configuration this profile was built from (tool selection, built-in and dynamic tool settings).</summary>
    public ProfileConfig Config { get; }

    /// <summary>Per server (the same order as <see cref="Servers"/>): which of its tools are exposed; null: all of them.</summary>
    public ToolSelection?[] Selections { get; }

    private readonly ToolView?[] _views;

    /// <summary>
    /// Per item of <paramref name="snapshot"/> (server <paramref name="serverIndex"/>'s tool list): whether tools/list shows it
    /// in a context of the given trust, under <paramref name="policies"/>.
    /// </summary>
    public bool[] VisibleTools(int serverIndex, ListSnapshot snapshot, Archestra.Policy.ProfilePolicies policies, bool trusted) =>
        View(serverIndex, snapshot, policies).Visible(this, serverIndex, trusted);

    /// <summary>The cached view of server <paramref name="serverIndex"/>'s tool list under <paramref name="policies"/>.</summary>
    public ToolView View(int serverIndex, ListSnapshot snapshot, Archestra.Policy.ProfilePolicies policies)
    {
        var view = Volatile.Read(ref _views[serverIndex]);
        if (view is null || view.Snapshot != snapshot || view.Policies != policies)
        {
            view = new ToolView(snapshot, policies);
            Volatile.Write(ref _views[serverIndex], view);
        }

        return view;
    }

    /// <summary>Whether this profile exposes <paramref name="server"/>'s tool <paramref name="tool"/> (its own name). Allocation-free.</summary>
    public bool Exposes(UpstreamEntry server, ReadOnlySpan<byte> tool)
    {
        var index = Array.IndexOf(Servers, server);
        return index >= 0 && (Selections[index] is not { } selection || selection.Exposes(tool));
    }

    public string Name { get; }

    public UpstreamEntry[] Servers { get; }

    /// <summary>Whether tool and prompt names carry the <c>{server}__</c> prefix in this profile.</summary>
    public bool Prefixed { get; }

    public bool RequiresToken => _tokenHashes.Length > 0;

    public bool Uses(UpstreamEntry entry) => Array.IndexOf(Servers, entry) >= 0;

    /// <summary>
    /// Finds the server that owns a tool or prompt name given as raw UTF-8 (unescaped, without quotes),
    /// and the part of the name to send upstream. Allocation-free.
    /// </summary>
    public UpstreamEntry? Route(ReadOnlySpan<byte> name, out int upstreamNameOffset)
    {
        upstreamNameOffset = 0;
        if (!Prefixed)
        {
            return Servers.Length > 0 ? Servers[0] : null; // an LLM-only profile has no servers
        }

        var sep = name.IndexOf(McpProtocol.Separator);
        if (sep <= 0)
        {
            return null;
        }

        var prefix = name[..sep];
        foreach (var server in Servers)
        {
            if (prefix.SequenceEqual(server.NameUtf8))
            {
                upstreamNameOffset = sep + McpProtocol.Separator.Length;
                return server;
            }
        }

        return null;
    }

    /// <summary>Checks a bearer token in constant time (<see cref="SecretHash.MatchesAny"/>).</summary>
    public bool AcceptsToken(ReadOnlySpan<char> token) => SecretHash.MatchesAny(token, _tokenHashes);
}
