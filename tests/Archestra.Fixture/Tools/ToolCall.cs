using System.Text.Json;
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

    public async ValueTask LogAsync(LoggingLevel level, string text)
    {
        if (!Session.ShouldLog(level))
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
