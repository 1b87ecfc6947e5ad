using System.Text.Json;
using System.Text.Json.Nodes;
using Archestra.Fixture.Mcp;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Tools;

/// <summary>One tools/call as a tool body sees it.</summary>
internal readonly record struct ToolCall(RequestContext<CallToolRequestParams> Request, FixtureSession Session, CancellationToken CancellationToken)
{
    /// <summary>Bound to the request, so messages sent through it ride the call's own response stream.</summary>
    public McpServer Server => Request.Server;

    public IDictionary<string, JsonElement>? Arguments => Request.Params?.Arguments;

    /// <summary>A 2026-07-28 request: its <c>_meta</c> names the revision (and carries what a 2025 session negotiated once).</summary>
    public bool Modern => Request.Params?.Meta?.ContainsKey(FixtureServer.ModernVersionKey) == true;

    /// <summary>The client's capabilities: the request's <c>_meta</c> for a 2026-07-28 request, else the session's initialize.</summary>
    public (bool Sampling, bool Elicitation) Declared
    {
        get
        {
            if (Request.Params?.Meta?[FixtureServer.CapabilitiesKey] is JsonObject declared)
            {
                return (declared["sampling"] is JsonObject, declared["elicitation"] is JsonObject);
            }

            var session = Server.ClientCapabilities;
            return (session?.Sampling is not null, session?.Elicitation is not null);
        }
    }

    public async ValueTask LogAsync(LoggingLevel level, string text)
    {
        // A 2026-07-28 request has no logging/setLevel: it gets messages only at or above its _meta logLevel, none without one.
        var allowed = Modern
            ? Request.Params?.Meta?[FixtureServer.LogLevelKey] is JsonValue v
                && v.TryGetValue(out string? name)
                && Enum.TryParse<LoggingLevel>(name, ignoreCase: true, out var threshold)
                && level >= threshold
            : Session.ShouldLog(level);
        if (!allowed)
        {
            return;
        }

        var message = new LoggingMessageNotificationParams
        {
            Level = level,
            Logger = FixtureServer.Name,
            Data = Json.String(text),
        };
        await Server.SendNotificationAsync(NotificationMethods.LoggingMessageNotification, message, cancellationToken: CancellationToken).ConfigureAwait(false);
    }
}

internal sealed record FixtureTool(string Name, string Description, string InputSchema, Func<ToolCall, ValueTask<CallToolResult>> InvokeAsync)
{
    public Tool ToProtocol() =>
        new()
        {
            Name = Name,
            Description = Description,
            InputSchema = Json.Parse(InputSchema),
        };
}
