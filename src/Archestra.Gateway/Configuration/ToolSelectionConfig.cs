namespace Archestra.Gateway.Configuration;

/// <summary>
/// Which tools of one server a profile exposes (<c>profiles.NAME.toolSelection.SERVER</c>). Patterns are the server's own
/// tool names with <c>*</c> matching any run of characters. A name matching <see cref="Deny"/> is never exposed; otherwise
/// it is exposed when <see cref="Allow"/> is null (no allow list) or one of its patterns matches.
/// </summary>
public sealed record ToolSelectionConfig(IReadOnlyList<string>? Allow, IReadOnlyList<string> Deny);

/// <summary>How a profile offers Archestra's own <c>archestra__</c> tools (<c>profiles.NAME.builtinTools</c>).</summary>
public enum BuiltinToolsMode
{
    /// <summary>Listed after the servers' tools.</summary>
    On,

    /// <summary>Not listed and not callable.</summary>
    Off,

    /// <summary>
    /// tools/list shows only the built-ins: a model finds the servers' tools with <c>archestra__search_tools</c> and calls
    /// them by name, for profiles whose full list would not fit a model's context.
    /// </summary>
    Only,
}
