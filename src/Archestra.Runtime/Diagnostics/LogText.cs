using System.Buffers;
using System.Globalization;
using System.Text;

namespace Archestra.Runtime.Diagnostics;

/// <summary>
/// Text from outside the process (an upstream's stdout or stderr, an error body, a client's tool name or
/// session id) on its way into a log line. A log parameter of this type prints the text with control
/// characters escaped, so a peer cannot forge log lines (CR, LF), rewrite a terminal (ESC sequences), or cut a
/// line short (NUL). Log methods take it instead of <see cref="string"/> for every value a peer chose; strings
/// convert implicitly, and the escaping runs only when the line is actually written.
/// </summary>
public readonly struct LogText : ISpanFormattable
{
    private readonly string? _text;

    public LogText(string? text)
    {
        _text = text;
    }

    public static implicit operator LogText(string? text) => new(text);

    public override string ToString() => _text is null ? "(null)" : Escape(_text);

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        var text = ToString();
        if (text.AsSpan().TryCopyTo(destination))
        {
            charsWritten = text.Length;
            return true;
        }

        charsWritten = 0;
        return false;
    }

    /// <summary>
    /// The text with C0 and C1 control characters, DEL, the Unicode line and paragraph separators, the
    /// bidirectional controls and lone surrogates escaped (<c>\r</c>, <c>\n</c>, <c>\t</c>, <c>\x1B</c>, <c>\u2028</c>, <c>\uD800</c>); the same
    /// instance when there is nothing to escape, which is the common case.
    /// </summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var first = FirstToEscape(text);
        if (first < 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 16);
        builder.Append(text, 0, first);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
            }
            else if (NeedsEscape(c))
            {
                AppendEscaped(builder, c);
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// UTF-8 bytes as escaped text: valid sequences are decoded, each byte that is not part of one is shown
    /// as <c>\xNN</c> (so a log says what was sent instead of a replacement character), and control characters
    /// are escaped as by <see cref="Escape"/>. At most <paramref name="maxBytes"/> bytes are shown, then "…".
    /// </summary>
    public static string Utf8(ReadOnlySpan<byte> bytes, int maxBytes = int.MaxValue)
    {
        var cut = bytes.Length > maxBytes;
        if (cut)
        {
            bytes = bytes[..maxBytes];
        }

        var builder = new StringBuilder(bytes.Length + 16);
        while (!bytes.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(bytes, out var rune, out var consumed);
            if (status == OperationStatus.Done)
            {
                if (rune.IsBmp && NeedsEscape((char)rune.Value))
                {
                    AppendEscaped(builder, (char)rune.Value);
                }
                else
                {
                    builder.Append(rune.ToString());
                }
            }
            else if (status == OperationStatus.NeedMoreData && cut)
            {
                // A character split by the preview limit, not an invalid one.
                break;
            }
            else
            {
                for (var i = 0; i < consumed; i++)
                {
                    builder.Append("\\x").Append(bytes[i].ToString("X2", CultureInfo.InvariantCulture));
                }
            }

            bytes = bytes[consumed..];
        }

        if (cut)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }

    private static int FirstToEscape(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (NeedsEscape(c))
            {
                return i;
            }
        }

        return -1;
    }

    // Lone surrogates reach here only unpaired: a pair is consumed before this is asked. The bidirectional
    // overrides and isolates (U+202A-202E, U+2066-2069) would make a line display in an order it was not written in.
    private static bool NeedsEscape(char c) =>
        c < ' ' || (c >= '\u007F' && c <= '\u009F') || (c >= '\u2028' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069') || char.IsSurrogate(c);

    private static void AppendEscaped(StringBuilder builder, char c)
    {
        _ = c switch
        {
            '\r' => builder.Append("\\r"),
            '\n' => builder.Append("\\n"),
            '\t' => builder.Append("\\t"),
            < '\u0100' => builder.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture)),
            _ => builder.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture)),
        };
    }
}
