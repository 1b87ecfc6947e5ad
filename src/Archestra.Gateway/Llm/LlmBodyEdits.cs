using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Archestra.Runtime.Buffers;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Replacements of whole JSON values in a request body (tool results withheld, sanitized or re-encoded as TOON).
/// <see cref="Apply"/> copies the body once into a pooled buffer with every replacement in place; the bytes
/// between them stay as the client sent them.
/// </summary>
internal sealed class LlmBodyEdits
{
    // Relaxed: the text goes to a model, not into HTML, and \uXXXX for every non-ASCII letter would cost tokens.
    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly List<(int Start, int End, byte[] Text)> _edits = [];

    public int Count => _edits.Count;

    /// <summary>Replaces <paramref name="start"/>..<paramref name="end"/> (a whole JSON value) by <paramref name="json"/>; ranges must not overlap.</summary>
    public void Replace(int start, int end, byte[] json) => _edits.Add((start, end, json));

    /// <summary>Replaces the value at <paramref name="start"/>..<paramref name="end"/> by the JSON string of <paramref name="text"/>.</summary>
    public void ReplaceWithString(int start, int end, string text) => Replace(start, end, Quote(text));

    /// <summary>The body with every replacement applied, in a buffer rented from <see cref="BytePool"/>.</summary>
    public (byte[] Buffer, int Length) Apply(ReadOnlySpan<byte> body)
    {
        _edits.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        var length = body.Length;
        var at = 0;
        foreach (var (start, end, text) in _edits)
        {
            if (start < at || end < start || end > body.Length)
            {
                throw new InvalidOperationException($"overlapping or out-of-range body edit {start}..{end}");
            }

            length += text.Length - (end - start);
            at = end;
        }

        var buffer = BytePool.Rent(Math.Max(length, 1));
        var written = 0;
        at = 0;
        foreach (var (start, end, text) in _edits)
        {
            body[at..start].CopyTo(buffer.AsSpan(written));
            written += start - at;
            text.CopyTo(buffer.AsSpan(written));
            written += text.Length;
            at = end;
        }

        body[at..].CopyTo(buffer.AsSpan(written));
        return (buffer, length);
    }

    /// <summary><paramref name="text"/> as a JSON string token, quotes included.</summary>
    public static byte[] Quote(string text)
    {
        var output = new ArrayBufferWriter<byte>(text.Length + 16);
        using (var writer = new Utf8JsonWriter(output, s_writerOptions))
        {
            writer.WriteStringValue(text);
        }

        return output.WrittenSpan.ToArray();
    }
}
