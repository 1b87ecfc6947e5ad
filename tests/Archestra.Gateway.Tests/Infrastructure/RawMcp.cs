using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>Plain HTTP requests to the MCP endpoint, for asserting exact statuses, headers and error codes.</summary>
internal static class RawMcp
{
    public static HttpRequestMessage Post(
        Uri url,
        string body,
        string? session = null,
        string accept = "application/json, text/event-stream",
        string contentType = "application/json"
    )
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (accept.Length > 0)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session);
        }

        return request;
    }

    public static string Initialize(int id = 1, string version = "2025-06-18") =>
        "{\"jsonrpc\":\"2.0\",\"id\":"
        + id.ToString(System.Globalization.CultureInfo.InvariantCulture)
        + ",\"method\":\"initialize\",\"params\":{\"protocolVersion\":\""
        + version
        + "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw-test\",\"version\":\"1\"}}}";

    public static string Call(object id, string tool, string arguments = "{}") =>
        "{\"jsonrpc\":\"2.0\",\"id\":"
        + JsonSerializer.Serialize(id)
        + ",\"method\":\"tools/call\",\"params\":{\"name\":\""
        + tool
        + "\",\"arguments\":"
        + arguments
        + "}}";

    /// <summary>Reads a JSON response or the last JSON-RPC message of an SSE response.</summary>
    public static async Task<JsonElement> ReadMessageAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            string? last = null;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    last = line["data: ".Length..];
                }
            }

            text = last ?? throw new InvalidOperationException("no data in SSE response: " + text);
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static int ErrorCode(JsonElement message) => message.GetProperty("error").GetProperty("code").GetInt32();

    public static string ErrorMessage(JsonElement message) => message.GetProperty("error").GetProperty("message").GetString()!;
}
