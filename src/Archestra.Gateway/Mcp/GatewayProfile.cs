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
