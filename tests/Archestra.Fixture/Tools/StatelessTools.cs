using System.Text.Json;
using Archestra.Fixture.Mcp;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using static ModelContextProtocol.Protocol.ElicitRequestParams;

namespace Archestra.Fixture.Tools;

/// <summary>
/// The diagnostic tools of the 2026-07-28 scenario server-stateless (SEP-2575): one that needs a capability the client must
/// declare (-32021 otherwise), one that needs elicitation mid-call (input_required, never a request on the response
/// stream), one that logs (only at the request's <c>_meta</c> logLevel), two that change the tool and prompt lists, and
/// (for http-custom-header-server-validation) one whose argument is mirrored into an <c>Mcp-Param-*</c> header.
/// </summary>
internal static class StatelessTools
{
    private const string NoArguments = """{"type":"object","properties":{}}""";

    /// <summary>MissingRequiredClientCapabilityError (2026-07-28 basic/lifecycle).</summary>
    private const int MissingRequiredClientCapability = -32021;

    private static readonly JsonElement s_requiresSampling = Json.Parse("""{"sampling":{}}""");

    public static readonly FixtureTool[] Tools =
    [
        new("test_missing_capability", "Needs the sampling capability; without it the call is refused with -32021", NoArguments, MissingCapability),
        new("test_streaming_elicitation", "Needs the user's name mid-call (input_required with elicitation/create)", NoArguments, StreamingElicitation),
        new("test_logging_tool", "Logs one message at info, then answers", NoArguments, LoggingAsync),
        new(
            "test_param_header",
            "Echoes region, which a 2026-07-28 client also sends as the Mcp-Param-Region header (SEP-2243)",
            """{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region","description":"Where to run"}},"required":["region"]}""",
            static call => Done($"region={Json.GetString(call.Arguments, "region")}")
        ),
        new("test_trigger_tool_change", "Toggles dynamic_extra_tool: the tool list changes", NoArguments, static call => ToggleAsync(call, DynamicKind.Tool)),
        new("test_trigger_prompt_change", "Toggles dynamic_extra_prompt: the prompt list changes", NoArguments, static call =>
            ToggleAsync(call, DynamicKind.Prompt)
        ),
    ];

    private static ValueTask<CallToolResult> MissingCapability(ToolCall call)
    {
        if (!call.Declared.Sampling)
        {
            var error = new McpProtocolException(
                "Missing required client capability: this tool needs sampling, which the request's clientCapabilities do not declare",
                (McpErrorCode)MissingRequiredClientCapability
            );
            error.Data["requiredCapabilities"] = s_requiresSampling;
            throw error;
        }

        return Done("The client declared sampling.");
    }

    private static ValueTask<CallToolResult> StreamingElicitation(ToolCall call)
    {
        var input = call.Request.Params?.InputResponses;
        if (input is not null && input.TryGetValue("user_name", out var answer))
        {
            var result = answer.Deserialize(InputResponse.ElicitResultJsonTypeInfo);
            return Done($"The user answered with action {result?.Action ?? "none"}.");
        }

        throw InputTools.Ask(("user_name", InputTools.Elicit("What is your name?", ("name", new StringSchema()))));
    }

    private static async ValueTask<CallToolResult> LoggingAsync(ToolCall call)
    {
        await call.LogAsync(LoggingLevel.Info, "test_logging_tool ran").ConfigureAwait(false);
        return new CallToolResult { Content = [new TextContentBlock { Text = "Logged one message at info (sent only if the request asked for it)." }] };
    }

    private static async ValueTask<CallToolResult> ToggleAsync(ToolCall call, DynamicKind kind)
    {
        var enabled = await call.Session.Catalog.ToggleAsync(kind, call.CancellationToken).ConfigureAwait(false);
        return new CallToolResult
        {
            Content =
            [
                new TextContentBlock { Text = $"The {kind.ToString().ToLowerInvariant()} list changed (dynamic entry {(enabled ? "added" : "removed")})." },
            ],
        };
    }

    private static ValueTask<CallToolResult> Done(string text) => ValueTask.FromResult(new CallToolResult { Content = [new TextContentBlock { Text = text }] });
}
