using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Archestra.Fixture.Http;

/// <summary>Transport-level rejections, written as JSON-RPC errors with a null id (no request was accepted).</summary>
internal static class JsonRpcErrors
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;

    /// <summary>Not in the JSON-RPC range; the TypeScript and C# SDKs both use it for transport rejections.</summary>
    public const int ServerError = -32000;

    /// <summary>What the TypeScript and C# SDKs answer for an unknown session, alongside 404.</summary>
    public const int SessionNotFound = -32001;

    public static async Task WriteAsync(HttpContext context, int status, int code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var writer = new Utf8JsonWriter(context.Response.Body);
        await using (writer.ConfigureAwait(false))
        {
            writer.WriteStartObject();
            writer.WriteString("jsonrpc"u8, "2.0"u8);
            writer.WriteNull("id"u8);
            writer.WriteStartObject("error"u8);
            writer.WriteNumber("code"u8, code);
            writer.WriteString("message"u8, message);
            writer.WriteEndObject();
            writer.WriteEndObject();
            await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
    }
}
