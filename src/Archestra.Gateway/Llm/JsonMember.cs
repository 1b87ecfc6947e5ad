using System.Text.Json;

namespace Archestra.Gateway.Llm;

/// <summary>Small steps the LLM readers repeat on a <see cref="Utf8JsonReader"/> positioned on a property name.</summary>
internal static class JsonMember
{
    /// <summary>
    /// True, with the reader on the value's first token, when the property is <paramref name="name"/> and its value
    /// starts with <paramref name="start"/> (an object or array); otherwise the value is skipped.
    /// </summary>
    public static bool Enter(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, JsonTokenType start)
    {
        var matches = reader.ValueTextEquals(name);
        reader.Read();
        if (matches && reader.TokenType == start)
        {
            return true;
        }

        reader.Skip();
        return false;
    }

    /// <summary>Skips the property's value.</summary>
    public static void SkipValue(ref Utf8JsonReader reader)
    {
        reader.Read();
        reader.Skip();
    }

    /// <summary>Reads the property's value: its text when it is a string, else null (the value is skipped).</summary>
    public static string? String(ref Utf8JsonReader reader)
    {
        reader.Read();
        var text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        reader.Skip();
        return text;
    }

    /// <summary>Reads the property's value: the number when it is a 32-bit integer, else <paramref name="otherwise"/> (the value is skipped).</summary>
    public static int Int32(ref Utf8JsonReader reader, int otherwise)
    {
        reader.Read();
        var value = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var n) ? n : otherwise;
        reader.Skip();
        return value;
    }

    /// <summary>Reads the property's value: the number when it is a 64-bit integer, else <paramref name="otherwise"/> (the value is skipped).</summary>
    public static long Int64(ref Utf8JsonReader reader, long otherwise)
    {
        reader.Read();
        var value = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n) ? n : otherwise;
        reader.Skip();
        return value;
    }

    /// <summary>Reads the property's value: its unescaped UTF-8 when it is a string, else empty.</summary>
    public static byte[] Utf8(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return [];
        }

        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return reader.ValueSpan.ToArray();
        }

        var buffer = new byte[reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length];
        return buffer[..reader.CopyString(buffer)];
    }

    /// <summary>Reads the property's value whole: where it starts and ends.</summary>
    public static (int Start, int End) Range(ref Utf8JsonReader reader)
    {
        reader.Read();
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        return (start, (int)reader.BytesConsumed);
    }
}
