using System.Text;
using System.Text.Json;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Policy.Llm;
using Archestra.Runtime.Buffers;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The per-profile <c>llm.toon</c> option: a tool result whose text is a JSON object or array goes upstream as
/// its TOON encoding (<see cref="Toon"/>), which carries the same data in fewer tokens for tables of uniform
/// objects. Only texts that get shorter are replaced; anything that is not JSON stays as it is.
/// </summary>
internal static class LlmToonResults
{
    /// <summary>
    /// Adds to <paramref name="edits"/> a TOON replacement for <paramref name="result"/>'s content in the request's
    /// dialect: a JSON string or text blocks (see the other overload), or a Gemini <c>response</c> object, which
    /// becomes <c>{"output": TOON}</c> when that is shorter; a response whose <c>output</c> string holds JSON has
    /// that string converted. Returns how many UTF-8 bytes were saved.
    /// </summary>
    public static int Convert(LlmDialect dialect, ReadOnlySpan<byte> body, in LlmToolResult result, LlmBodyEdits edits)
    {
        var value = body[result.ContentStart..result.ContentEnd];
        if (!dialect.ResultsInParts)
        {
            return Convert(body, result.ContentStart, result.ContentEnd, result.ContentIsString, edits);
        }

        if (LlmHistory.OutputString(value) is ({ } start, var end))
        {
            return ConvertString(value[start..end], result.ContentStart + start, edits);
        }

        if (Toon.TryEncode(value) is not { } toon)
        {
            return 0;
        }

        var replacement = dialect.ResultReplacement(toon, withheld: false);
        if (replacement.Length >= value.Length)
        {
            return 0;
        }

        edits.Replace(result.ContentStart, result.ContentEnd, replacement);
        return value.Length - replacement.Length;
    }

    /// <summary>
    /// Adds to <paramref name="edits"/> a TOON replacement for the content value at
    /// <paramref name="start"/>..<paramref name="end"/>: the string itself, or each text block of an array of
    /// blocks (<c>{"type": "text", "text": ...}</c>, also <c>input_text</c> in the Responses API).
    /// Returns how many UTF-8 bytes of text were saved.
    /// </summary>
    public static int Convert(ReadOnlySpan<byte> body, int start, int end, bool isString, LlmBodyEdits edits)
    {
        var value = body[start..end];
        if (isString)
        {
            return ConvertString(value, start, edits);
        }

        var saved = 0;
        var reader = new Utf8JsonReader(value);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
        {
            return 0;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            int textStart = -1,
                textEnd = -1;
            var isText = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    isText = reader.TokenType == JsonTokenType.String && (reader.ValueTextEquals("text"u8) || reader.ValueTextEquals("input_text"u8));
                }
                else if (reader.ValueTextEquals("text"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        textStart = (int)reader.TokenStartIndex;
                        textEnd = (int)reader.BytesConsumed;
                    }
                }
                else
                {
                    reader.Read();
                }

                reader.Skip();
            }

            if (isText && textStart >= 0)
            {
                saved += ConvertString(value[textStart..textEnd], start + textStart, edits);
            }
        }

        return saved;
    }

    /// <summary><paramref name="token"/> is one JSON string token (quotes included) at <paramref name="offset"/> in the body.</summary>
    private static int ConvertString(ReadOnlySpan<byte> token, int offset, LlmBodyEdits edits)
    {
        var reader = new Utf8JsonReader(token);
        if (!reader.Read() || reader.TokenType != JsonTokenType.String)
        {
            return 0;
        }

        var rented = BytePool.Rent(reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length);
        try
        {
            var text = rented.AsSpan(0, reader.CopyString(rented));
            var trimmed = text.TrimStart(" \t\r\n"u8);
            if (trimmed.IsEmpty || trimmed[0] is not ((byte)'{' or (byte)'['))
            {
                return 0;
            }

            if (Toon.TryEncode(text) is not { } toon)
            {
                return 0;
            }

            var toonBytes = Encoding.UTF8.GetByteCount(toon);
            if (toonBytes >= text.Length)
            {
                return 0;
            }

            edits.ReplaceWithString(offset, offset + token.Length, toon);
            return text.Length - toonBytes;
        }
        finally
        {
            BytePool.Return(rented);
        }
    }
}
