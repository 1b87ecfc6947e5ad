using Archestra.Policy;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Dynamic tools (<c>profiles.NAME.dynamicTools</c>, on by default): tools/list shows only what the policies could allow in the
/// context's trust (<see cref="ToolView"/>), so a 2025 session is told when that trust changes. MCP 2026-07-28 requests have
/// no session: each is judged untrusted, its list is built per request and carries <c>ttlMs: 0</c>, so nothing stale is kept.
/// Hiding is a courtesy to the model; every call is still decided on its own.
/// </summary>
internal static class DynamicTools
{
    private static readonly byte[] s_listChanged = JsonRpcWriter.Notification(McpMethods.ToolsListChanged);

    /// <summary>
    /// The session has just become untrusted: when that shortens its list (some tool may run only in a trusted context), its
    /// client is asked to list again. A profile whose tools may all run untrusted changes nothing and is told nothing.
    /// </summary>
    public static void OnTainted(McpSession session, ProfilePolicies policies)
    {
        var profile = session.Profile;
        if (!profile.Config.DynamicTools)
        {
            return;
        }

        for (var i = 0; i < profile.Servers.Length; i++)
        {
            if (
                profile.Servers[i].Cached(ListKind.Tools) is { } snapshot
                && !profile
                    .VisibleTools(i, snapshot, policies, trusted: true)
                    .AsSpan()
                    .SequenceEqual(profile.VisibleTools(i, snapshot, policies, trusted: false))
            )
            {
                session.Post(s_listChanged);
                return;
            }
        }
    }
}
