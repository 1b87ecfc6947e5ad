using System.Text.Json;
using ModelContextProtocol;

namespace Archestra.Fixture.Mcp;

internal static class Json
{
    public static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static JsonElement String(string value) => JsonSerializer.SerializeToElement(value, McpJsonUtilities.DefaultOptions);

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, McpJsonUtilities.DefaultOptions);

    public static string? GetString(IDictionary<string, JsonElement>? arguments, string name) =>
        arguments is not null && arguments.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static int? GetInt32(IDictionary<string, JsonElement>? arguments, string name) =>
        arguments is not null && arguments.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number)
            ? number
            : null;
}
