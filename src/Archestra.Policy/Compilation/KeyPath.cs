using System.Globalization;

namespace Archestra.Policy.Compilation;

internal enum SegmentKind : byte
{
    Property,
    AnyIndex,
    Index,
}

/// <summary>One step of a key path: a property name (as written, UTF-16), <c>[*]</c>, or <c>[N]</c>.</summary>
internal readonly record struct PathSegment(SegmentKind Kind, string? Name, int Index);

/// <summary>
/// Parses key paths: <c>name ( '.' name | '[' ( '*' | digits ) ']' )*</c>. A name is any run of characters
/// other than <c>.</c>, <c>[</c> and <c>]</c>; it is compared with the JSON property name after unescaping.
/// </summary>
internal static class KeyPath
{
    public static bool TryParse(string path, List<PathSegment> segments, out string? error)
    {
        segments.Clear();
        if (path.Length == 0)
        {
            error = "the key path is empty";
            return false;
        }

        var i = 0;
        while (true)
        {
            var start = i;
            while (i < path.Length && path[i] is not ('.' or '[' or ']'))
            {
                i++;
            }

            if (i == start)
            {
                error = i < path.Length && path[i] == ']' ? $"unbalanced ']' at position {i}" : $"empty property name at position {i}";
                return false;
            }

            segments.Add(new PathSegment(SegmentKind.Property, path[start..i], 0));
            while (i < path.Length && path[i] == '[')
            {
                var close = path.IndexOf(']', i + 1);
                if (close < 0)
                {
                    error = $"unbalanced '[' at position {i}";
                    return false;
                }

                var inner = path.AsSpan(i + 1, close - i - 1);
                if (inner is "*")
                {
                    segments.Add(new PathSegment(SegmentKind.AnyIndex, null, 0));
                }
                else if (inner.Length > 0 && IsDigits(inner) && int.TryParse(inner, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                {
                    segments.Add(new PathSegment(SegmentKind.Index, null, index));
                }
                else
                {
                    error = $"index \"{inner}\" at position {i} is neither * nor a non-negative integer";
                    return false;
                }

                i = close + 1;
            }

            if (i == path.Length)
            {
                error = null;
                return true;
            }

            if (path[i] != '.')
            {
                error = path[i] == ']' ? $"unbalanced ']' at position {i}" : $"expected '.' or '[' at position {i}";
                return false;
            }

            i++;
        }
    }

    private static bool IsDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }
}
