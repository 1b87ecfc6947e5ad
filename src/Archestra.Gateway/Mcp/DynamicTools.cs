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

    /// <summary>The session has just become untrusted: its list may now be shorter, so its client is asked to list again.</summary>
    public static void OnTainted(McpSession session)
    {
        if (session.Profile.Config.DynamicTools)
        {
            session.Post(s_listChanged);
        }
    }
}
