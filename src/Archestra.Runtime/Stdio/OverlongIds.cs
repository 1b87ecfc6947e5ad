using System.Text.Json;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Runtime.Stdio;

/// <summary>
/// Finds the id of a JSON-RPC response too large to keep, from the bytes that were kept of it: its head or its tail.
/// The gateway numbers its calls, so an id that names a call is a JSON integer.
/// </summary>
internal static class OverlongIds
{
    /// <summary>An <c>id</c> member of the top-level object that comes before the first value the head cuts off.</summary>
    public static bool TryReadFromHead(ReadOnlySpan<byte> head, out long id)
    {
        id = 0;
        var reader = new Utf8JsonReader(head, isFinalBlock: false, state: default);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = reader.ValueTextEquals("id"u8);
                if (!reader.Read())
                {
                    return false;
                }

                if (isId)
                {
                    return reader.TokenType == JsonTokenType.Number && !reader.HasValueSequence && JsonRpcRewriter.TryParseId(reader.ValueSpan, out id);
                }

                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip())
                {
                    return false;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: no id to find.
        }

        return false;
    }

    /// <summary>
    /// <c>"id":N}</c> closing the message. Exactly one <c>}</c> after the number puts it in the top-level object:
    /// an <c>id</c> inside the result would be followed by at least two.
    /// </summary>
    public static bool TryReadFromTail(ReadOnlySpan<byte> tail, out long id)
    {
        id = 0;
        tail = tail.TrimEnd(" \t\r\n"u8);
        if (tail.IsEmpty || tail[^1] != (byte)'}')
        {
            return false;
        }

        tail = tail[..^1].TrimEnd(" \t\r\n"u8);
        var digits = LastDigits(tail);
        if (digits == 0)
        {
            return false;
        }

        var number = tail[^digits..];
        var before = tail[..^digits].TrimEnd(" \t\r\n"u8);
        if (before.IsEmpty || before[^1] != (byte)':')
        {
            return false;
        }

        before = before[..^1].TrimEnd(" \t\r\n"u8);
        // Inside a string the quotes would be escaped (\"id\"), so a closing "id" is a member name.
        return before.EndsWith("\"id\""u8) && JsonRpcRewriter.TryParseId(number, out id);
    }

    private static int LastDigits(ReadOnlySpan<byte> text)
    {
        var count = 0;
        while (count < text.Length && char.IsAsciiDigit((char)text[text.Length - 1 - count]))
        {
            count++;
        }

        return count;
    }
}
