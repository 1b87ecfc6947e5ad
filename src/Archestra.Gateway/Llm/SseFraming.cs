namespace Archestra.Gateway.Llm;

/// <summary>
/// Event boundaries and data fields of a server-sent event stream (WHATWG HTML §9.2.6): an event ends at a
/// blank line; lines end in LF or CRLF (a lone CR, allowed by the spec, is not used by any LLM provider and
/// is not treated as a line end here); <c>data:</c> values drop one leading space.
/// </summary>
internal static class SseFraming
{
    /// <summary>The index just past the blank line ending the first event in <paramref name="buffer"/> at or after <paramref name="from"/>, or -1.</summary>
    public static int FindEventEnd(ReadOnlySpan<byte> buffer, int from)
    {
        var i = from;
        while (i < buffer.Length)
        {
            var nl = buffer[i..].IndexOf((byte)'\n');
            if (nl < 0)
            {
                return -1;
            }

            var at = i + nl + 1;
            if (at < buffer.Length && buffer[at] == (byte)'\n')
            {
                return at + 1;
            }

            if (at + 1 < buffer.Length && buffer[at] == (byte)'\r' && buffer[at + 1] == (byte)'\n')
            {
                return at + 2;
            }

            i = at;
        }

        return -1;
    }

    /// <summary>
    /// The value of the event's first <c>data</c> line and where it starts in <paramref name="evt"/>;
    /// <paramref name="multiLine"/> says whether there are more.
    /// </summary>
    public static ReadOnlySpan<byte> Data(ReadOnlySpan<byte> evt, out bool multiLine, out int offset)
    {
        multiLine = false;
        offset = 0;
        ReadOnlySpan<byte> first = default;
        var found = false;
        foreach (var range in evt.Split((byte)'\n'))
        {
            var line = Trim(evt[range]);
            if (!line.StartsWith("data:"u8))
            {
                continue;
            }

            if (found)
            {
                multiLine = true;
                break;
            }

            found = true;
            first = Value(line);
            offset = range.Start.Value + (line.Length - first.Length);
        }

        return first;
    }

    /// <summary>Every <c>data</c> line's value joined with LF, in a new array (several data lines are rare).</summary>
    public static byte[] JoinData(ReadOnlySpan<byte> evt)
    {
        var output = new List<byte>(evt.Length);
        var any = false;
        foreach (var range in evt.Split((byte)'\n'))
        {
            var line = Trim(evt[range]);
            if (!line.StartsWith("data:"u8))
            {
                continue;
            }

            if (any)
            {
                output.Add((byte)'\n');
            }

            any = true;
            foreach (var b in Value(line))
            {
                output.Add(b);
            }
        }

        return [.. output];
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;

    private static ReadOnlySpan<byte> Value(ReadOnlySpan<byte> line)
    {
        var value = line[5..];
        return value.Length > 0 && value[0] == (byte)' ' ? value[1..] : value;
    }
}
