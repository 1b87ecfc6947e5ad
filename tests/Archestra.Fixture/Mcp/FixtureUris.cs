namespace Archestra.Fixture.Mcp;

/// <summary>The resource addresses the conformance scenarios read (resources.ts, tools.ts).</summary>
internal static class FixtureUris
{
    public const string StaticText = "test://static-text";
    public const string StaticBinary = "test://static-binary";
    public const string WatchedResource = "test://watched-resource";
    public const string DynamicResource = "test://dynamic-resource";
    public const string Template = "test://template/{id}/data";
    public const string TemplatePrefix = "test://template/";
    public const string TemplateSuffix = "/data";
}
