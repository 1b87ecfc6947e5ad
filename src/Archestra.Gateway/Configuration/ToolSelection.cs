using System.Collections.Frozen;
using System.Text;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// One <c>*</c> pattern over a server's own tool name, compiled once per configuration into its literal pieces (UTF-8),
/// so a match is a few span comparisons and allocates nothing.
/// </summary>
internal sealed class ToolGlob
{
    private readonly byte[][] _pieces;
    private readonly bool _anchoredStart;
    private readonly bool _anchoredEnd;

    public ToolGlob(string pattern)
    {
        Pattern = pattern;
        _anchoredStart = !pattern.StartsWith('*');
        _anchoredEnd = !pattern.EndsWith('*');
        _pieces = pattern.Split('*').Where(static piece => piece.Length > 0).Select(static piece => Encoding.UTF8.GetBytes(piece)).ToArray();
    }

    public string Pattern { get; }

    public bool Matches(ReadOnlySpan<byte> name)
    {
        var pieces = _pieces;
        if (pieces.Length == 0)
        {
            return true; // only stars: a pattern is never empty
        }

        var first = 0;
        var last = pieces.Length - 1;
        if (_anchoredStart)
        {
            if (!name.StartsWith(pieces[0]))
            {
                return false;
            }

            name = name[pieces[0].Length..];
            first = 1;
        }

        if (_anchoredEnd && last >= first)
        {
            if (!name.EndsWith(pieces[last]))
            {
                return false;
            }

            name = name[..^pieces[last].Length];
            last--;
        }
        else if (_anchoredEnd && first > last)
        {
            // A pattern without *: the whole name was its one piece.
            return name.IsEmpty;
        }

        for (var i = first; i <= last; i++)
        {
            var at = name.IndexOf(pieces[i]);
            if (at < 0)
            {
                return false;
            }

            name = name[(at + pieces[i].Length)..];
        }

        return true;
    }

    public bool Matches(string name) => Matches(Encoding.UTF8.GetBytes(name));
}

/// <summary>Which tools of one server a profile exposes; see <see cref="ToolSelectionConfig"/>.</summary>
internal sealed class ToolSelection
{
    private readonly ToolGlob[]? _allow;
    private readonly ToolGlob[] _deny;

    public ToolSelection(string server, ToolSelectionConfig config)
    {
        Server = server;
        _allow = config.Allow?.Select(static p => new ToolGlob(p)).ToArray();
        _deny = [.. config.Deny.Select(static p => new ToolGlob(p))];
    }

    public string Server { get; }

    /// <summary>The -32602 message for a call to a tool the profile does not expose.</summary>
    public static string NotExposed(string tool, string profile) => $"Unknown tool '{tool}': profile '{profile}' does not expose it.";

    /// <summary>Whether the profile exposes the server's tool <paramref name="tool"/> (its own name, UTF-8). Allocation-free.</summary>
    public bool Exposes(ReadOnlySpan<byte> tool)
    {
        foreach (var glob in _deny)
        {
            if (glob.Matches(tool))
            {
                return false;
            }
        }

        if (_allow is null)
        {
            return true;
        }

        foreach (var glob in _allow)
        {
            if (glob.Matches(tool))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The same decision with the rule that made it, for the admin API (e.g. <c>toolSelection.github.deny: delete_*</c>).</summary>
    public (bool Exposed, string Reason) Explain(string tool)
    {
        var utf8 = Encoding.UTF8.GetBytes(tool);
        foreach (var glob in _deny)
        {
            if (glob.Matches(utf8))
            {
                return (false, $"toolSelection.{Server}.deny: {glob.Pattern}");
            }
        }

        if (_allow is null)
        {
            return (true, $"toolSelection.{Server}: no allow list");
        }

        foreach (var glob in _allow)
        {
            if (glob.Matches(utf8))
            {
                return (true, $"toolSelection.{Server}.allow: {glob.Pattern}");
            }
        }

        return (false, $"toolSelection.{Server}.allow: no pattern matches");
    }
}

/// <summary>
/// A profile's selections compiled for names as a client or an agent writes them: <c>{server}__{tool}</c> when the profile
/// prefixes names, the server's own name in a one-server profile that does not. Used where a tool is named by text, as in
/// the LLM proxy's tool guard. Null from <see cref="Of"/> when the profile selects nothing.
/// </summary>
internal sealed class ProfileToolSelection
{
    private readonly FrozenDictionary<string, ToolSelection> _byServer;
    private readonly ToolSelection? _unprefixed;

    private ProfileToolSelection(ProfileConfig profile)
    {
        Profile = profile.Name;
        _byServer = profile.ToolSelection.ToFrozenDictionary(static p => p.Key, static p => new ToolSelection(p.Key, p.Value), StringComparer.Ordinal);
        var prefixed = profile.ToolPrefix == ToolPrefixMode.Always || profile.Servers.Count > 1;
        _unprefixed = !prefixed && profile.Servers.Count == 1 ? _byServer.GetValueOrDefault(profile.Servers[0]) : null;
    }

    public string Profile { get; }

    public static ProfileToolSelection? Of(ProfileConfig profile) => profile.ToolSelection.Count == 0 ? null : new ProfileToolSelection(profile);

    /// <summary>The rule that hides <paramref name="tool"/>, or null when the profile exposes it (or it names no selected server).</summary>
    public string? Hides(string tool)
    {
        if (_unprefixed is { } only)
        {
            return Hidden(only, tool);
        }

        var separator = tool.IndexOf("__", StringComparison.Ordinal);
        return separator > 0 && _byServer.TryGetValue(tool[..separator], out var selection) ? Hidden(selection, tool[(separator + 2)..]) : null;
    }

    private static string? Hidden(ToolSelection selection, string tool) => selection.Explain(tool) is (false, var reason) ? reason : null;
}
