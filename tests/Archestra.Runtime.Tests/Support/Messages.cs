using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Runtime.Upstreams;

namespace Archestra.Runtime.Tests.Support;

internal static class Messages
{
    public static byte[] Request(long id, string method, Action<Utf8JsonWriter>? writeParams = null, bool progress = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc", "2.0");
            w.WriteNumber("id", id);
            w.WriteString("method", method);
            w.WriteStartObject("params");
            writeParams?.Invoke(w);
            if (progress)
            {
                w.WriteStartObject("_meta");
                w.WriteNumber("progressToken", id);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] ToolCall(long id, string tool, string argumentsJson = "{}", bool progress = false) =>
        Request(
            id,
            "tools/call",
            w =>
            {
                w.WriteString("name", tool);
                w.WritePropertyName("arguments");
                w.WriteRawValue(argumentsJson);
            },
            progress
        );

    public static JsonElement Result(UpstreamCallResult call)
    {
        Assert.True(call.IsSuccess, call.Detail);
        Assert.NotNull(call.Response);
        using var doc = JsonDocument.Parse(call.Response.Buffer);
        Assert.True(doc.RootElement.TryGetProperty("result", out var result), "expected a result, got " + call.Response);
        return result.Clone();
    }

    public static string FirstText(UpstreamCallResult call) => Result(call).GetProperty("content")[0].GetProperty("text").GetString()!;

    public static List<string> ToolNames(UpstreamCallResult call)
    {
        var names = new List<string>();
        foreach (var tool in Result(call).GetProperty("tools").EnumerateArray())
        {
            names.Add(tool.GetProperty("name").GetString()!);
        }

        return names;
    }

    public static string Text(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetString(utf8);
}
