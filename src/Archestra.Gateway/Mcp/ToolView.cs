using System.Buffers;
using System.Text;
using Archestra.Policy;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Which tools of one server's cached list a profile shows, computed once per (list, policy snapshot, trust) and reused by
/// every tools/list until one of them changes: a 5,000-tool profile then lists without matching a pattern or looking up a
/// policy per tool.
/// </summary>
internal sealed class ToolView(ListSnapshot snapshot, ProfilePolicies policies)
{
    private bool[]? _trusted;
    private bool[]? _untrusted;
    private SearchEntry[]? _search;

    public ListSnapshot Snapshot { get; } = snapshot;

    public ProfilePolicies Policies { get; } = policies;

    /// <summary>Per item of <see cref="Snapshot"/>: whether it is listed in a context of the given trust.</summary>
    public bool[] Visible(GatewayProfile profile, int serverIndex, bool trusted)
    {
        ref var cached = ref trusted ? ref _trusted : ref _untrusted;
        return Volatile.Read(ref cached) ?? (cached = Compute(profile, serverIndex, trusted));
    }

    /// <summary>Per item: the name the profile shows and the lower-cased words <c>archestra__search_tools</c> matches, read once.</summary>
    public SearchEntry[] Search(GatewayProfile profile, int serverIndex)
    {
        if (Volatile.Read(ref _search) is { } cached)
        {
            return cached;
        }

        var server = profile.Servers[serverIndex];
        var items = Snapshot.Items;
        var entries = new SearchEntry[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            var (description, schema) = items[i].ReadToolInfo();
            var name = profile.Prefixed ? items[i].Qualified(server.Name) : items[i].Key;
            entries[i] = new SearchEntry(name, description, schema, name.ToLowerInvariant(), description?.ToLowerInvariant() ?? "");
        }

        return _search = entries;
    }

    private bool[] Compute(GatewayProfile profile, int serverIndex, bool trusted)
    {
        var items = Snapshot.Items;
        var visible = new bool[items.Length];
        var selection = profile.Selections[serverIndex];
        var server = profile.Servers[serverIndex];
        for (var i = 0; i < items.Length; i++)
        {
            var shown = selection is null || selection.Exposes(Encoding.UTF8.GetBytes(items[i].Key));
            if (shown && profile.Config.DynamicTools)
            {
                shown = !Policies.RefusesEveryCall(items[i].Qualified(server.Name), trusted);
            }

            visible[i] = shown;
        }

        return visible;
    }
}

/// <summary>A tool as <c>archestra__search_tools</c> sees it: what it returns, and the lower-cased text it matches words in.</summary>
internal sealed record SearchEntry(string Name, string? Description, string InputSchema, string NameLower, string DescriptionLower);

/// <summary>One page of a merged list: skips the items before the cursor's offset and stops at the page size.</summary>
internal struct ListPage(IBufferWriter<byte> buffer, int offset, int size)
{
    private int _index;

    public int Written { get; private set; }

    /// <summary>An item did not fit: the list continues on a next page.</summary>
    public bool Full { get; private set; }

    public void Add(ReadOnlySpan<byte> json)
    {
        if (Full || _index++ < offset)
        {
            return;
        }

        if (Written == size)
        {
            Full = true;
            return;
        }

        if (Written++ > 0)
        {
            buffer.Write(","u8);
        }

        buffer.Write(json);
    }
}
