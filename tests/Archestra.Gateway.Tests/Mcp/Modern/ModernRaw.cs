using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>Hand-built MCP 2026-07-28 requests, for asserting the exact status and code of each rung of the validation ladder.</summary>
internal static class ModernRaw
{
    public const string Revision = "2026-07-28";

    public const string Envelope =
        "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientInfo\":{\"name\":\"raw\",\"version\":\"1\"},"
        + "\"io.modelcontextprotocol/clientCapabilities\":{}}";

    /// <summary>
    /// A request body: <paramref name="paramsInner"/> is the params' members without the braces (the envelope is added unless <paramref
    /// name="meta"/> is given).
    /// </summary>
    public static string Body(object id, string method, string paramsInner = "", string? meta = Envelope)
    {
        var members = string.Join(",", new[] { meta, paramsInner }.Where(s => !string.IsNullOrEmpty(s)));
        return "{\"jsonrpc\":\"2.0\",\"id\":" + JsonSerializer.Serialize(id) + ",\"method\":\"" + method + "\",\"params\":{" + members + "}}";
    }

    /// <summary>A POST with the routing headers a conforming client sends; pass null to leave one out.</summary>
    public static HttpRequestMessage Post(Uri url, string body, string? method, string? name = null, string? version = Revision)
    {
        var request = RawMcp.Post(url, body);
        if (version is not null)
        {
            request.Headers.TryAddWithoutValidation("MCP-Protocol-Version", version);
        }

        if (method is not null)
        {
            request.Headers.TryAddWithoutValidation("Mcp-Method", method);
        }

        if (name is not null)
        {
            request.Headers.TryAddWithoutValidation("Mcp-Name", name);
        }

        return request;
    }

    public static async Task<(int Status, JsonElement Message)> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            return ((int)response.StatusCode, await RawMcp.ReadMessageAsync(response));
        }
    }
}
