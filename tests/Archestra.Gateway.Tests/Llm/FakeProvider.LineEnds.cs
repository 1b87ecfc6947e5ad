using System.Text;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// Streams with the other line ends the event-stream format allows (WHATWG HTML § 9.2.6: "Lines must be separated by
/// either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF) character, or
/// a single U+000D CARRIAGE RETURN (CR) character"), written a few bytes at a time so that line ends, blank lines
/// and the two bytes of a CRLF fall on different writes.
/// </summary>
internal sealed partial class FakeProvider
{
    private const int ChopBytes = 5;

    /// <summary>The line end a model name asks for (<c>-eol-cr</c>, <c>-eol-crlf</c>); null: LF, event by event.</summary>
    private static string? LineEnd(string model) =>
        model.EndsWith("-eol-cr", StringComparison.Ordinal) ? "\r"
        : model.EndsWith("-eol-crlf", StringComparison.Ordinal) ? "\r\n"
        : null;

    private static async Task WriteChoppedAsync(HttpContext context, string sse)
    {
        var bytes = Encoding.UTF8.GetBytes(sse);
        for (var at = 0; at < bytes.Length; at += ChopBytes)
        {
            await context.Response.Body.WriteAsync(bytes.AsMemory(at, Math.Min(ChopBytes, bytes.Length - at)));
            await context.Response.Body.FlushAsync();
        }
    }
}
