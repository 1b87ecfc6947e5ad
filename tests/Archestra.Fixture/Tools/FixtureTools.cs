using System.Collections.Frozen;
using System.Globalization;
using Archestra.Fixture.Mcp;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using static ModelContextProtocol.Protocol.ElicitRequestParams;

namespace Archestra.Fixture.Tools;

/// <summary>
/// The tools of the conformance server scenarios (texts and shapes as tools.ts, elicitation-defaults.ts,
/// elicitation-enums.ts, json-schema-2020-12.ts (0.2's schema, with SEP-2106's $anchor, allOf/anyOf and if/then/else,
/// a superset of 0.1.16's) and sse-polling.ts expect), the 2026-07-28 ones (<see cref="InputTools"/>,
/// <see cref="StatelessTools"/>), plus a few the gateway tests drive: echo, slow, and switches for list changes and
/// resource updates.
/// </summary>
internal static class FixtureTools
{
    private const string NoArguments = """{"type":"object","properties":{}}""";

    private static readonly FixtureTool[] s_tools =
    [
        new("test_simple_text", "Tests simple text content response", NoArguments, static _ => Done(Text("This is a simple text response for testing."))),
        new("test_image_content", "Tests image content response", NoArguments, static _ => Done(ImageContentBlock.FromBytes(FixtureMedia.Png, "image/png"))),
        new("test_audio_content", "Tests audio content response", NoArguments, static _ => Done(AudioContentBlock.FromBytes(FixtureMedia.Wav, "audio/wav"))),
        new("test_embedded_resource", "Tests embedded resource content response", NoArguments, static _ =>
            Done(Embedded("test://embedded-resource", "text/plain", "This is an embedded resource content."))
        ),
        new("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)", NoArguments, static _ =>
            Done(
                Text("Multiple content types test:"),
                ImageContentBlock.FromBytes(FixtureMedia.Png, "image/png"),
                Embedded("test://mixed-content-resource", "application/json", """{"test":"data","value":123}""")
            )
        ),
        new("test_tool_with_logging", "Tests tool that emits log messages during execution", NoArguments, WithLoggingAsync),
        new("test_tool_with_progress", "Tests tool that reports progress notifications", NoArguments, WithProgressAsync),
        new("test_error_handling", "Tests error response handling", NoArguments, static _ =>
            ValueTask.FromResult(new CallToolResult { IsError = true, Content = [Text("This tool intentionally returns an error for testing")] })
        ),
        new(
            "test_sampling",
            "Tests server-initiated sampling (LLM completion request)",
            """{"type":"object","properties":{"prompt":{"type":"string","description":"The prompt to send to the LLM"}},"required":["prompt"]}""",
            SamplingAsync
        ),
        new(
            "test_elicitation",
            "Tests server-initiated elicitation (user input request)",
            """{"type":"object","properties":{"message":{"type":"string","description":"The message to show the user"}},"required":["message"]}""",
            ElicitationAsync
        ),
        new("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034", NoArguments, static call =>
            ElicitAsync(call, "Please review and update the form fields with defaults", DefaultsSchema(), "Elicitation completed")
        ),
        new("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330", NoArguments, static call =>
            ElicitAsync(call, "Please select options from the enum fields", EnumsSchema(), "Elicitation completed")
        ),
        new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            """
            {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
             "$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
             "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},
                           "contactMethod":{"type":"string","enum":["phone","email"]},"phone":{"type":"string"},"email":{"type":"string"}},
             "allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],
             "if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},"then":{"required":["phone"]},"else":{"required":["email"]},
             "additionalProperties":false}
            """,
            static call =>
                Done(Text($"JSON Schema 2020-12 tool called with: {Json.Serialize(call.Arguments ?? new Dictionary<string, System.Text.Json.JsonElement>())}"))
        ),
        new("test_reconnection", "Tests SSE stream disconnection and client reconnection (SEP-1699)", NoArguments, ReconnectionAsync),
        new(
            "test_dynamic_tool",
            "Toggles a dynamic tool, resource or prompt and sends the matching list_changed notification",
            """{"type":"object","properties":{"kind":{"type":"string","enum":["tool","resource","prompt"],"description":"What to toggle (default tool)"}}}""",
            DynamicAsync
        ),
        new("test_logging_all_levels", "Sends one log message at every level, filtered by logging/setLevel", NoArguments, AllLevelsAsync),
        new("test_update_watched_resource", "Changes test://watched-resource and notifies its subscribers", NoArguments, UpdateWatchedAsync),
        new(
            "echo",
            "Returns its message argument as text",
            """{"type":"object","properties":{"message":{"type":"string","description":"Text to return"}},"required":["message"]}""",
            static call => Done(Text(Json.GetString(call.Arguments, "message") ?? ""))
        ),
        new(
            "slow",
            "Sleeps ms milliseconds, then answers; cancellable",
            """{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"description":"How long to sleep"}},"required":["ms"]}""",
            SlowAsync
        ),
        .. InputTools.Tools,
        .. StatelessTools.Tools,
    ];

    private static readonly FixtureTool s_dynamicTool = new(
        "dynamic_extra_tool",
        "Present only while test_dynamic_tool has switched it on",
        NoArguments,
        static _ => Done(Text("The dynamic tool answered."))
    );

    private static readonly FrozenDictionary<string, FixtureTool> s_byName = s_tools
        .Append(s_dynamicTool)
        .ToFrozenDictionary(static t => t.Name, StringComparer.Ordinal);

    private static readonly Tool[] s_protocolTools = [.. s_tools.Select(static t => t.ToProtocol())];

    private static readonly Tool s_protocolDynamicTool = s_dynamicTool.ToProtocol();

    public static ListToolsResult List(FixtureCatalog catalog) =>
        new() { Tools = catalog.DynamicToolEnabled ? [.. s_protocolTools, s_protocolDynamicTool] : [.. s_protocolTools] };

    /// <summary>A tool's input schema as listed (raw JSON), or null for a name the fixture does not offer.</summary>
    public static string? InputSchemaOf(string name) => s_byName.TryGetValue(name, out var tool) ? tool.InputSchema : null;

    public static ValueTask<CallToolResult> CallAsync(ToolCall call)
    {
        var name = call.Request.Params?.Name;
        if (name is null || !s_byName.TryGetValue(name, out var tool) || (ReferenceEquals(tool, s_dynamicTool) && !call.Session.Catalog.DynamicToolEnabled))
        {
            throw new McpProtocolException($"Unknown tool: '{name}'", McpErrorCode.InvalidParams);
        }

        return tool.InvokeAsync(call);
    }

    private static async ValueTask<CallToolResult> WithLoggingAsync(ToolCall call)
    {
        // tools-call-with-logging wants three messages spread over the call, not a burst.
        await call.LogAsync(LoggingLevel.Info, "Tool execution started").ConfigureAwait(false);
        await Task.Delay(50, call.CancellationToken).ConfigureAwait(false);
        await call.LogAsync(LoggingLevel.Info, "Tool processing data").ConfigureAwait(false);
        await Task.Delay(50, call.CancellationToken).ConfigureAwait(false);
        await call.LogAsync(LoggingLevel.Info, "Tool execution completed").ConfigureAwait(false);
        return Result(Text("Tool with logging executed successfully"));
    }

    private static async ValueTask<CallToolResult> WithProgressAsync(ToolCall call)
    {
        var token = call.Request.Params?.ProgressToken;
        for (var step = 0; step <= 100; step += 50)
        {
            if (step > 0)
            {
                await Task.Delay(50, call.CancellationToken).ConfigureAwait(false);
            }

            if (token is { } progressToken)
            {
                var value = new ProgressNotificationValue
                {
                    Progress = step,
                    Total = 100,
                    Message = $"Completed step {step} of 100",
                };
                await call.Server.NotifyProgressAsync(progressToken, value, cancellationToken: call.CancellationToken).ConfigureAwait(false);
            }
        }

        return Result(Text(token?.ToString() ?? "Progress tool completed without a progress token"));
    }

    private static async ValueTask<CallToolResult> SamplingAsync(ToolCall call)
    {
        var prompt = Json.GetString(call.Arguments, "prompt") ?? "";
        var request = new CreateMessageRequestParams { Messages = [new SamplingMessage { Role = Role.User, Content = [Text(prompt)] }], MaxTokens = 100 };
        var result = await call.Server.SampleAsync(request, call.CancellationToken).ConfigureAwait(false);
        var answer = result.Content.OfType<TextContentBlock>().FirstOrDefault()?.Text ?? "No response";
        return Result(Text($"LLM response: {answer}"));
    }

    private static ValueTask<CallToolResult> ElicitationAsync(ToolCall call)
    {
        var schema = new RequestSchema
        {
            Properties = new Dictionary<string, PrimitiveSchemaDefinition>
            {
                ["username"] = new StringSchema { Description = "User's response" },
                ["email"] = new StringSchema { Description = "User's email address" },
            },
            Required = ["username", "email"],
        };
        return ElicitAsync(call, Json.GetString(call.Arguments, "message") ?? "Please provide your information", schema, "User response");
    }

    private static async ValueTask<CallToolResult> ElicitAsync(ToolCall call, string message, RequestSchema schema, string label)
    {
        var request = new ElicitRequestParams { Message = message, RequestedSchema = schema };
        var result = await call.Server.ElicitAsync(request, call.CancellationToken).ConfigureAwait(false);
        var content = result.Content is null ? "{}" : Json.Serialize(result.Content);
        return Result(Text($"{label}: action={result.Action}, content={content}"));
    }

    private static RequestSchema DefaultsSchema() =>
        new()
        {
            Properties = new Dictionary<string, PrimitiveSchemaDefinition>
            {
                ["name"] = new StringSchema { Description = "User name", Default = "John Doe" },
                ["age"] = new NumberSchema
                {
                    Type = "integer",
                    Description = "User age",
                    Default = 30,
                },
                ["score"] = new NumberSchema { Description = "User score", Default = 95.5 },
                ["status"] = new UntitledSingleSelectEnumSchema
                {
                    Description = "User status",
                    Enum = ["active", "inactive", "pending"],
                    Default = "active",
                },
                ["verified"] = new BooleanSchema { Description = "Verification status", Default = true },
            },
            Required = [],
        };

    private static RequestSchema EnumsSchema() =>
        new()
        {
            Properties = new Dictionary<string, PrimitiveSchemaDefinition>
            {
                ["untitledSingle"] = new UntitledSingleSelectEnumSchema { Description = "Select one option", Enum = ["option1", "option2", "option3"] },
                ["titledSingle"] = new TitledSingleSelectEnumSchema
                {
                    Description = "Select one option with titles",
                    OneOf = [Option("value1", "First Option"), Option("value2", "Second Option"), Option("value3", "Third Option")],
                },
                ["legacyEnum"] = new LegacyTitledEnumSchema
                {
                    Description = "Select one option (legacy)",
                    Enum = ["opt1", "opt2", "opt3"],
                    EnumNames = ["Option One", "Option Two", "Option Three"],
                },
                ["untitledMulti"] = new UntitledMultiSelectEnumSchema
                {
                    Description = "Select multiple options",
                    MinItems = 1,
                    MaxItems = 3,
                    Items = new UntitledEnumItemsSchema { Enum = ["option1", "option2", "option3"] },
                },
                ["titledMulti"] = new TitledMultiSelectEnumSchema
                {
                    Description = "Select multiple options with titles",
                    MinItems = 1,
                    MaxItems = 3,
                    Items = new TitledEnumItemsSchema
                    {
                        AnyOf = [Option("value1", "First Choice"), Option("value2", "Second Choice"), Option("value3", "Third Choice")],
                    },
                },
            },
            Required = [],
        };

    private static EnumSchemaOption Option(string value, string title) => new() { Const = value, Title = title };

    private static async ValueTask<CallToolResult> ReconnectionAsync(ToolCall call)
    {
        // server-sse-polling expects the POST stream to close before the result exists, and the
        // result to arrive on the GET that resumes from Last-Event-ID. Closing after the result is
        // computed (the result is then only in the event store) is the order the SDK's own
        // conformance server uses.
        var result = Result(Text("Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."));
        try
        {
            await call.Request.EnablePollingAsync(TimeSpan.FromMilliseconds(500), call.CancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // stdio, or an HTTP session without an event store: the result simply rides the open stream.
        }

        return result;
    }

    private static async ValueTask<CallToolResult> DynamicAsync(ToolCall call)
    {
        var kind = Json.GetString(call.Arguments, "kind") switch
        {
            null or "tool" => DynamicKind.Tool,
            "resource" => DynamicKind.Resource,
            "prompt" => DynamicKind.Prompt,
            var other => throw new McpProtocolException($"kind must be tool, resource or prompt, not '{other}'", McpErrorCode.InvalidParams),
        };
        var enabled = await call.Session.Catalog.ToggleAsync(kind, call.CancellationToken).ConfigureAwait(false);
        var what = kind switch
        {
            DynamicKind.Resource => FixtureUris.DynamicResource,
            DynamicKind.Prompt => "dynamic_extra_prompt",
            _ => s_dynamicTool.Name,
        };
        return Result(Text($"{what} is now {(enabled ? "enabled" : "disabled")}"));
    }

    private static async ValueTask<CallToolResult> AllLevelsAsync(ToolCall call)
    {
        foreach (var level in Enum.GetValues<LoggingLevel>())
        {
            await call.LogAsync(level, $"Message at level {level}").ConfigureAwait(false);
        }

        return Result(Text($"Logged at every level at or above {call.Session.LogLevel?.ToString() ?? "Debug"}"));
    }

    private static async ValueTask<CallToolResult> UpdateWatchedAsync(ToolCall call)
    {
        var version = await call.Session.Catalog.UpdateWatchedResourceAsync(call.CancellationToken).ConfigureAwait(false);
        return Result(Text(string.Create(CultureInfo.InvariantCulture, $"{FixtureUris.WatchedResource} is now version {version}")));
    }

    private static async ValueTask<CallToolResult> SlowAsync(ToolCall call)
    {
        var ms = Json.GetInt32(call.Arguments, "ms") ?? 0;
        if (ms < 0)
        {
            throw new McpProtocolException("ms must not be negative", McpErrorCode.InvalidParams);
        }

        await Task.Delay(ms, call.CancellationToken).ConfigureAwait(false);
        return Result(Text(string.Create(CultureInfo.InvariantCulture, $"Slept {ms} ms")));
    }

    private static TextContentBlock Text(string text) => new() { Text = text };

    private static EmbeddedResourceBlock Embedded(string uri, string mimeType, string text) =>
        new()
        {
            Resource = new TextResourceContents
            {
                Uri = uri,
                MimeType = mimeType,
                Text = text,
            },
        };

    private static CallToolResult Result(params ContentBlock[] content) => new() { Content = content };

    private static ValueTask<CallToolResult> Done(params ContentBlock[] content) => ValueTask.FromResult(Result(content));
}
