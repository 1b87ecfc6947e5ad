using System.Diagnostics.CodeAnalysis;
using Archestra.Fixture.Mcp;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Archestra.Fixture.Resources;

/// <summary>The resources of resources.ts: two static ones, a template, and one that can be watched.</summary>
internal static class FixtureResources
{
    private static readonly Resource[] s_resources =
    [
        new()
        {
            Uri = FixtureUris.StaticText,
            Name = "static-text",
            Title = "Static Text Resource",
            Description = "A static text resource for testing",
            MimeType = "text/plain",
        },
        new()
        {
            Uri = FixtureUris.StaticBinary,
            Name = "static-binary",
            Title = "Static Binary Resource",
            Description = "A static binary resource (image) for testing",
            MimeType = "image/png",
        },
        new()
        {
            Uri = FixtureUris.WatchedResource,
            Name = "watched-resource",
            Title = "Watched Resource",
            Description = "Changes when test_update_watched_resource is called; subscribe to hear about it",
            MimeType = "text/plain",
        },
    ];

    private static readonly Resource s_dynamicResource = new()
    {
        Uri = FixtureUris.DynamicResource,
        Name = "dynamic-resource",
        Description = "Present only while test_dynamic_tool(kind=resource) has switched it on",
        MimeType = "text/plain",
    };

    private static readonly ResourceTemplate[] s_templates =
    [
        new()
        {
            UriTemplate = FixtureUris.Template,
            Name = "template",
            Title = "Resource Template",
            Description = "A resource template with parameter substitution",
            MimeType = "application/json",
        },
    ];

    public static ListResourcesResult List(FixtureCatalog catalog) =>
        new() { Resources = catalog.DynamicResourceEnabled ? [.. s_resources, s_dynamicResource] : [.. s_resources] };

    public static ListResourceTemplatesResult ListTemplates() => new() { ResourceTemplates = [.. s_templates] };

    public static ReadResourceResult Read(FixtureCatalog catalog, string? uri, bool modern)
    {
        ResourceContents? contents = uri switch
        {
            FixtureUris.StaticText => new TextResourceContents
            {
                Uri = uri,
                MimeType = "text/plain",
                Text = "This is the content of the static text resource.",
            },
            FixtureUris.StaticBinary => BlobResourceContents.FromBytes(FixtureMedia.Png, uri, "image/png"),
            FixtureUris.WatchedResource => new TextResourceContents
            {
                Uri = uri,
                MimeType = "text/plain",
                Text = catalog.WatchedResourceText,
            },
            FixtureUris.DynamicResource when catalog.DynamicResourceEnabled => new TextResourceContents
            {
                Uri = uri,
                MimeType = "text/plain",
                Text = "The dynamic resource.",
            },
            _ when TryMatchTemplate(uri, out var id) => new TextResourceContents
            {
                Uri = uri,
                MimeType = "application/json",
                Text = Json.Serialize(
                    new Dictionary<string, object>
                    {
                        ["id"] = id,
                        ["templateTest"] = true,
                        ["data"] = $"Data for ID: {id}",
                    }
                ),
            },
            _ => null,
        };

        return contents is null ? throw NotFound(uri, modern) : new ReadResourceResult { Contents = [contents] };
    }

    /// <summary>
    /// 2025 revisions name -32002; 2026-07-28 (SEP-2164) standardizes on -32602 with the URI in <c>data.uri</c>. The SDK
    /// writes the exception's <see cref="Exception.Data"/> as the error's data.
    /// </summary>
    private static McpProtocolException NotFound(string? uri, bool modern)
    {
        if (!modern)
        {
            return new McpProtocolException($"Resource not found: '{uri}'", McpErrorCode.ResourceNotFound);
        }

        var error = new McpProtocolException($"Resource not found: '{uri}'", McpErrorCode.InvalidParams);
        error.Data["uri"] = uri;
        return error;
    }

    public static IEnumerable<string> CompleteTemplateId(string prefix) =>
        new[] { "1", "2", "3", "42", "123" }.Where(id => id.StartsWith(prefix, StringComparison.Ordinal));

    private static bool TryMatchTemplate([NotNullWhen(true)] string? uri, out string id)
    {
        id = "";
        if (
            uri is null
            || !uri.StartsWith(FixtureUris.TemplatePrefix, StringComparison.Ordinal)
            || !uri.EndsWith(FixtureUris.TemplateSuffix, StringComparison.Ordinal)
        )
        {
            return false;
        }

        var variable = uri.AsSpan(FixtureUris.TemplatePrefix.Length, uri.Length - FixtureUris.TemplatePrefix.Length - FixtureUris.TemplateSuffix.Length);
        if (variable.IsEmpty || variable.Contains('/'))
        {
            return false;
        }

        id = Uri.UnescapeDataString(variable.ToString());
        return true;
    }
}
