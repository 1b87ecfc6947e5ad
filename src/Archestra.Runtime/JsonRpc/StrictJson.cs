using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Archestra.Runtime.JsonRpc;

/// <summary>Why a JSON text is refused by <see cref="StrictJson.Check"/>.</summary>
public enum StrictJsonError : byte
{
    None,

    /// <summary>Not well-formed JSON (RFC 8259 grammar).</summary>
    Malformed,

    /// <summary>Bytes that are not UTF-8, or a <c>\u</c> escape that decodes to a lone surrogate.</summary>
    InvalidUnicode,

    /// <summary>An object names the same key twice (after unescaping).</summary>
    DuplicateKey,

    /// <summary>Nesting deeper than the caller's limit.</summary>
    TooDeep,
}

/// <summary>The outcome of <see cref="StrictJson.Check"/>: the error and the byte offset it was found at.</summary>
public readonly record struct StrictJsonResult(StrictJsonError Error, int Offset)
{
    public bool IsValid => Error == StrictJsonError.None;
}

/// <summary>
/// The one definition of "JSON the gateway can decide on": well-formed (RFC 8259), UTF-8 without lone surrogates
/// behind escapes, no object naming a key twice, nesting bounded. RFC 8259 §4 leaves duplicate names to the
/// implementation, and parsers disagree (JavaScript and System.Text.Json keep the last copy, others the first or
/// all), so a message with two <c>name</c> keys may be decided on one tool and run as another; the same goes for
/// invalid UTF-8, which parsers replace, reject or pass through. Every body the gateway forwards after deciding on
/// it passes this check first, so the decision and the upstream always read the same value.
/// </summary>
/// <remarks>
/// One forward pass with <see cref="Utf8JsonReader"/> (<see cref="StrictJsonReader"/>, which the JSON-RPC envelope
/// reads through so that it pays for one pass); the keys of each open object are kept as (hash, range) on a stack and
/// checked when the object closes: pairwise for small objects, through an open-addressing table for large ones, so an
/// object with 100,000 keys costs O(n), not O(n²). Hashes come from <see cref="HashCode"/>, seeded per process,
/// so colliding keys cannot be prepared in advance; equal hashes are compared byte for byte. Allocates nothing for
/// documents with fewer than 64 open keys and short escaped names (pooled arrays above).
/// </remarks>
public static class StrictJson
{
    /// <summary>Depth limit for JSON-RPC messages (the envelope's), deep enough for any tool argument or result seen in practice.</summary>
    public const int MessageMaxDepth = 256;

    /// <summary>
    /// Checks <paramref name="json"/>. Malformed JSON is reported as <see cref="StrictJsonError.Malformed"/> even when
    /// it also repeats a key or holds bad bytes (a line that is not JSON at all is just that), so the whole text is
    /// read before any other finding is returned; only <see cref="StrictJsonError.TooDeep"/> stops the read at once.
    /// </summary>
    [SkipLocalsInit]
    public static StrictJsonResult Check(ReadOnlySpan<byte> json, int maxDepth = MessageMaxDepth)
    {
        var reader = new StrictJsonReader(
            json,
            maxDepth,
            strict: true,
            stackalloc StrictJsonReader.Key[StrictJsonReader.InlineKeys],
            stackalloc byte[StrictJsonReader.InlineNameBytes],
            stackalloc int[StrictJsonReader.Frames(maxDepth)]
        );
        try
        {
            while (reader.Read()) { }

            return reader.Finish();
        }
        catch (JsonException)
        {
            return reader.Found.Error == StrictJsonError.TooDeep
                ? reader.Found
                : new StrictJsonResult(StrictJsonError.Malformed, (int)Math.Min(reader.BytesConsumed, json.Length));
        }
        finally
        {
            reader.Dispose();
        }
    }

    /// <summary>
    /// Why <paramref name="json"/> may be read two ways (a repeated key, invalid UTF-8, a lone surrogate, nesting past
    /// <paramref name="maxDepth"/>), as <see cref="Describe"/> words it; null when it may not. Malformed JSON is not
    /// reported here: callers that parse the text next give their own parser's message for it.
    /// </summary>
    public static string? Ambiguity(ReadOnlySpan<byte> json, int maxDepth = MessageMaxDepth)
    {
        var result = Check(json, maxDepth);
        return result.Error is StrictJsonError.None or StrictJsonError.Malformed ? null : Describe(json, result);
    }

    /// <summary>A sentence naming what is wrong and where, e.g. <c>the key "name" appears twice in the object at $.params</c>.</summary>
    public static string Describe(ReadOnlySpan<byte> json, StrictJsonResult result) =>
        result.Error switch
        {
            StrictJsonError.None => "valid JSON",
            StrictJsonError.InvalidUnicode => $"the JSON is not valid UTF-8 (or escapes a lone surrogate) at byte {result.Offset}",
            StrictJsonError.TooDeep => $"the JSON nests deeper than allowed at byte {result.Offset}",
            StrictJsonError.DuplicateKey => $"the key {KeyAt(json, result.Offset)} appears twice in the object at {PathTo(json, result.Offset)}; "
                + "JSON parsers disagree on which copy counts, so the gateway refuses keys that repeat",
            _ => $"the JSON is malformed near byte {result.Offset}",
        };

    /// <summary>Offset of the first byte that does not belong to a well-formed UTF-8 sequence, or -1.</summary>
    internal static int FirstInvalidUtf8(ReadOnlySpan<byte> json)
    {
        if (Utf8.IsValid(json))
        {
            return -1;
        }

        var rest = json;
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(rest, out _, out var consumed) != OperationStatus.Done)
            {
                return json.Length - rest.Length;
            }

            rest = rest[consumed..];
        }

        return -1;
    }

    /// <summary>
    /// False when a string's <c>\u</c> escapes leave a lone surrogate (invalid UTF-16, which parsers replace, reject
    /// or keep). The reader has already checked the escape syntax, so this only pairs the surrogates: one pass over
    /// the backslashes, without unescaping (an 8 KB string with escapes costs ~1 µs here, ~10 µs through CopyString).
    /// </summary>
    internal static bool SurrogatesPair(ReadOnlySpan<byte> raw)
    {
        var pendingHigh = false;
        var i = raw.IndexOf((byte)'\\');
        if (i < 0)
        {
            return true;
        }

        while (i < raw.Length)
        {
            if (raw[i] != (byte)'\\')
            {
                if (pendingHigh)
                {
                    return false;
                }

                var next = raw[i..].IndexOf((byte)'\\');
                if (next < 0)
                {
                    return true;
                }

                i += next;
                continue;
            }

            if (raw[i + 1] != (byte)'u')
            {
                if (pendingHigh)
                {
                    return false;
                }

                i += 2;
                continue;
            }

            var unit = Hex(raw[i + 2]) << 12 | Hex(raw[i + 3]) << 8 | Hex(raw[i + 4]) << 4 | Hex(raw[i + 5]);
            i += 6;
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                if (pendingHigh)
                {
                    return false;
                }

                pendingHigh = true;
            }
            else if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                if (!pendingHigh)
                {
                    return false;
                }

                pendingHigh = false;
            }
            else if (pendingHigh)
            {
                return false;
            }
        }

        return !pendingHigh;

        static int Hex(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    }

    /// <summary>The key token at <paramref name="offset"/>, quoted and unescaped (cold path).</summary>
    private static string KeyAt(ReadOnlySpan<byte> json, int offset)
    {
        var reader = new Utf8JsonReader(json[offset..]);
        try
        {
            reader.Read();
            var name = reader.GetString() ?? "";
            return Quote(name.Length > 200 ? name[..200] + "…" : name);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return "(unreadable)";
        }
    }

    /// <summary>The JSON path of the object that holds the key at <paramref name="offset"/>, like <c>$.params.arguments</c> (cold path).</summary>
    private static string PathTo(ReadOnlySpan<byte> json, int offset)
    {
        var path = new List<string>();
        var index = new List<int>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MessageMaxDepth + 1 });
        string? pending = null;
        try
        {
            while (reader.Read() && reader.TokenStartIndex < offset)
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        pending = reader.GetString();
                        continue;
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        path.Add(Segment(pending, index));
                        index.Add(reader.TokenType == JsonTokenType.StartArray ? 0 : -1);
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        path.RemoveAt(path.Count - 1);
                        index.RemoveAt(index.Count - 1);
                        Advance(index);
                        break;
                    default:
                        Advance(index);
                        break;
                }

                pending = null;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Only reached for a document Check already accepted up to the duplicate; describe what was read.
        }

        var text = new StringBuilder("$");
        foreach (var segment in path)
        {
            text.Append(segment);
        }

        return text.ToString();

        static string Segment(string? property, List<int> index)
        {
            if (property is not null)
            {
                return IsPlainName(property) ? "." + property : "[" + Quote(property) + "]";
            }

            return index.Count > 0 && index[^1] >= 0 ? $"[{index[^1]}]" : "";
        }

        static void Advance(List<int> index)
        {
            if (index.Count > 0 && index[^1] >= 0)
            {
                index[^1]++;
            }
        }
    }

    // For a person reading the message: only what JSON requires is escaped.
    private static string Quote(string text) => "\"" + JsonEncodedText.Encode(text, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString() + "\"";

    private static bool IsPlainName(string name)
    {
        if (name.Length == 0 || name.Length > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '_' and not '-' && c != '$')
            {
                return false;
            }
        }

        return true;
    }
}
