using System.Text.Json;

namespace Archestra.Runtime.JsonRpc;

/// <summary>Reads one top-level property of a JSON object without building a document.</summary>
public static class JsonObjectScan
{
    /// <summary>
    /// The range of the value of top-level property <paramref name="name"/> (strings include their quotes); empty when absent or not an
    /// object.
    /// </summary>
    public static Slice FindValue(ReadOnlySpan<byte> json, ReadOnlySpan<byte> name)
    {
        if (json.IsEmpty)
        {
            return default;
        }

        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var match = reader.ValueTextEquals(name);
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                if (match)
                {
                    return new Slice(start, (int)reader.BytesConsumed - start);
                }
            }
        }
        catch (JsonException)
        {
            // Upstream bytes are untrusted; a malformed object simply has no such property.
        }

        return default;
    }

    /// <summary>The unescaped string value of a top-level property, or null when absent or not a string.</summary>
    public static string? GetString(ReadOnlySpan<byte> json, ReadOnlySpan<byte> name)
    {
        return ReadString(json, FindValue(json, name));
    }

    /// <summary>
    /// The unescaped string at <paramref name="slice"/> (a range from an envelope or <see cref="FindValue"/>), or null when it is not a
    /// string.
    /// </summary>
    public static string? ReadString(ReadOnlySpan<byte> json, Slice slice)
    {
        if (slice.IsEmpty || json[slice.Start] != (byte)'"')
        {
            return null;
        }

        var reader = new Utf8JsonReader(slice.Of(json));
        reader.Read();
        return reader.GetString();
    }

    /// <summary>True when the top-level property is the literal <c>true</c>.</summary>
    public static bool IsTrue(ReadOnlySpan<byte> json, ReadOnlySpan<byte> name) => FindValue(json, name).Of(json).SequenceEqual("true"u8);
}
