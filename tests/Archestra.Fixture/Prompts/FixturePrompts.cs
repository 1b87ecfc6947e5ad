using Archestra.Fixture.Mcp;
using Archestra.Fixture.Tools;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Archestra.Fixture.Prompts;

/// <summary>The prompts of prompts.ts, with the argument names and texts it checks.</summary>
internal static class FixturePrompts
{
    private static readonly Prompt[] s_prompts =
    [
        new()
        {
            Name = "test_simple_prompt",
            Title = "Simple Test Prompt",
            Description = "A simple prompt without arguments",
        },
        new()
        {
            Name = "test_prompt_with_arguments",
            Title = "Prompt With Arguments",
            Description = "A prompt with required arguments",
            Arguments =
            [
                new()
                {
                    Name = "arg1",
                    Description = "First test argument",
                    Required = true,
                },
                new()
                {
                    Name = "arg2",
                    Description = "Second test argument",
                    Required = true,
                },
            ],
        },
        new()
        {
            Name = "test_prompt_with_embedded_resource",
            Title = "Prompt With Embedded Resource",
            Description = "A prompt that includes an embedded resource",
            Arguments =
            [
                new()
                {
                    Name = "resourceUri",
                    Description = "URI of the resource to embed",
                    Required = true,
                },
            ],
        },
        new()
        {
            Name = "test_prompt_with_image",
            Title = "Prompt With Image",
            Description = "A prompt that includes image content",
        },
        InputTools.Prompt,
    ];

    private static readonly Prompt s_dynamicPrompt = new()
    {
        Name = "dynamic_extra_prompt",
        Description = "Present only while test_dynamic_tool(kind=prompt) has switched it on",
    };

    private static readonly string[] s_argumentCompletions = ["paris", "park", "party", "testValue1", "testValue2"];

    public static ListPromptsResult List(FixtureCatalog catalog) =>
        new() { Prompts = catalog.DynamicPromptEnabled ? [.. s_prompts, s_dynamicPrompt] : [.. s_prompts] };

    public static GetPromptResult Get(FixtureCatalog catalog, GetPromptRequestParams? request)
    {
        if (request?.Name == InputTools.Prompt.Name)
        {
            return InputTools.GetPrompt(request);
        }

        var arguments = request?.Arguments;
        PromptMessage[]? messages = request?.Name switch
        {
            "test_simple_prompt" => [User(Text("This is a simple prompt for testing."))],
            "test_prompt_with_arguments" => [User(Text($"Prompt with arguments: arg1='{Required(arguments, "arg1")}', arg2='{Required(arguments, "arg2")}'"))],
            "test_prompt_with_embedded_resource" =>
            [
                User(
                    new EmbeddedResourceBlock
                    {
                        Resource = new TextResourceContents
                        {
                            Uri = Required(arguments, "resourceUri"),
                            MimeType = "text/plain",
                            Text = "Embedded resource content for testing.",
                        },
                    }
                ),
                User(Text("Please process the embedded resource above.")),
            ],
            "test_prompt_with_image" => [User(ImageContentBlock.FromBytes(FixtureMedia.Png, "image/png")), User(Text("Please analyze the image above."))],
            "dynamic_extra_prompt" when catalog.DynamicPromptEnabled => [User(Text("The dynamic prompt."))],
            _ => null,
        };

        return messages is null
            ? throw new McpProtocolException($"Unknown prompt: '{request?.Name}'", McpErrorCode.InvalidParams)
            : new GetPromptResult { Messages = messages };
    }

    public static IEnumerable<string> CompleteArgument(string prompt, string argument, string prefix) =>
        (prompt, argument) switch
        {
            ("test_prompt_with_arguments", "arg1" or "arg2") => s_argumentCompletions.Where(v => v.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)),
            ("test_prompt_with_embedded_resource", "resourceUri") => new[]
            {
                FixtureUris.StaticText,
                FixtureUris.StaticBinary,
                FixtureUris.WatchedResource,
            }.Where(v => v.StartsWith(prefix, StringComparison.Ordinal)),
            _ => [],
        };

    private static string Required(IDictionary<string, System.Text.Json.JsonElement>? arguments, string name) =>
        Json.GetString(arguments, name) ?? throw new McpProtocolException($"Missing required argument '{name}'", McpErrorCode.InvalidParams);

    private static PromptMessage User(ContentBlock content) => new() { Role = Role.User, Content = content };

    private static TextContentBlock Text(string text) => new() { Text = text };
}
