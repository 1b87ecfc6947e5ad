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

    public ListSnapshot Snapshot { get; } = snapshot;

    public ProfilePolicies Policies { get; } = policies;

    /// <summary>Per item of <see cref="Snapshot"/>: whether it is listed in a context of the given trust.</summary>
    public bool[] Visible(GatewayProfile profile, int serverIndex, bool trusted)
    {
        ref var cached = ref trusted ? ref _trusted : ref _untrusted;
        return Volatile.Read(ref cached) ?? (cached = Compute(profile, serverIndex, trusted));
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
