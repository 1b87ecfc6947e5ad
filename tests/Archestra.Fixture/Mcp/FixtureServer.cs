using Archestra.Fixture.Prompts;
using Archestra.Fixture.Resources;
using Archestra.Fixture.Tools;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Mcp;

/// <summary>
/// Builds the SDK server options for one session. Handlers are the SDK's low-level ones so that
/// every name, schema and text is exactly what the scenarios read, not what attribute-based
/// registration would derive.
/// </summary>
internal static class FixtureServer
{
    public const string Name = "archestra-fixture";

    /// <summary>The <c>_meta</c> key that makes a request a 2026-07-28 one.</summary>
    public const string ModernVersionKey = "io.modelcontextprotocol/protocolVersion";

    public const string CapabilitiesKey = "io.modelcontextprotocol/clientCapabilities";

    public const string LogLevelKey = "io.modelcontextprotocol/logLevel";

    public static McpServerOptions CreateOptions(FixtureSession session)
    {
        var catalog = session.Catalog;
        return new McpServerOptions
        {
            ServerInfo = new Implementation { Name = Name, Version = "1.0.0" },
            Capabilities = new ServerCapabilities
            {
                Tools = new ToolsCapability { ListChanged = true },
                Resources = new ResourcesCapability { Subscribe = true, ListChanged = true },
                Prompts = new PromptsCapability { ListChanged = true },
                Logging = new LoggingCapability(),
                Completions = new CompletionsCapability(),
            },
            Handlers = new McpServerHandlers
            {
                ListToolsHandler = (_, _) => ValueTask.FromResult(FixtureTools.List(catalog)),
                CallToolHandler = (request, cancellationToken) => FixtureTools.CallAsync(new ToolCall(request, session, cancellationToken)),
                ListResourcesHandler = (_, _) => ValueTask.FromResult(FixtureResources.List(catalog)),
                ListResourceTemplatesHandler = (_, _) => ValueTask.FromResult(FixtureResources.ListTemplates()),
                ReadResourceHandler = (request, _) =>
                    ValueTask.FromResult(FixtureResources.Read(catalog, request.Params?.Uri, request.Params?.Meta?.ContainsKey(ModernVersionKey) == true)),
                SubscribeToResourcesHandler = (request, _) =>
                {
                    if (request.Params?.Uri is { } uri)
                    {
                        session.Subscribe(uri);
                    }

                    return ValueTask.FromResult(new EmptyResult());
                },
                UnsubscribeFromResourcesHandler = (request, _) =>
                {
                    if (request.Params?.Uri is { } uri)
                    {
                        session.Unsubscribe(uri);
                    }

                    return ValueTask.FromResult(new EmptyResult());
                },
                ListPromptsHandler = (_, _) => ValueTask.FromResult(FixturePrompts.List(catalog)),
                GetPromptHandler = (request, _) => ValueTask.FromResult(FixturePrompts.Get(catalog, request.Params)),
                CompleteHandler = (request, _) => ValueTask.FromResult(Complete(request.Params)),
                SetLoggingLevelHandler = (request, _) =>
                {
                    session.LogLevel = request.Params?.Level;
                    return ValueTask.FromResult(new EmptyResult());
                },
            },
        };
    }

    private static CompleteResult Complete(CompleteRequestParams? request)
    {
        var prefix = request?.Argument.Value ?? "";
        var values = request?.Ref switch
        {
            PromptReference prompt => FixturePrompts.CompleteArgument(prompt.Name, request.Argument.Name, prefix),
            ResourceTemplateReference { Uri: FixtureUris.Template } when request.Argument.Name == "id" => FixtureResources.CompleteTemplateId(prefix),
            _ => [],
        };
        var list = values.ToList();
        return new CompleteResult
        {
            Completion = new Completion
            {
                Values = list,
                Total = list.Count,
                HasMore = false,
            },
        };
    }
}
