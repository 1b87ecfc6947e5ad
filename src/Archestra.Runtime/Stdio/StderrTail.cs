using System.Text;

namespace Archestra.Runtime.Stdio;

/// <summary>The last lines a child process wrote to stderr, kept for error messages.</summary>
internal sealed class StderrTail
{
    // A single line longer than this is cut: one minified stack trace must not evict everything else.
    private const int MaxLineChars = 2048;

    private readonly string[] _lines;
    private readonly Lock _lock = new();
    private int _next;
    private int _count;
    private long _total;

    public StderrTail(int capacity)
    {
        _lines = new string[Math.Max(1, capacity)];
    }

    public void Add(string line)
    {
        if (line.Length > MaxLineChars)
        {
            line = string.Concat(line.AsSpan(0, MaxLineChars), "…");
        }

        lock (_lock)
        {
            _lines[_next] = line;
            _next = (_next + 1) % _lines.Length;
            _count = Math.Min(_count + 1, _lines.Length);
            _total++;
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            Array.Clear(_lines);
            _next = 0;
            _count = 0;
        }
    }

    /// <summary>All kept lines, oldest first, and how many lines were ever added (to tell which are new).</summary>
    public (string[] Lines, long Total) SnapshotWithTotal()
    {
        lock (_lock)
        {
            return (Snapshot(), _total);
        }
    }

    /// <summary>All kept lines, oldest first.</summary>
    public string[] Snapshot()
    {
        lock (_lock)
        {
            var result = new string[_count];
            var first = (_next - _count + _lines.Length) % _lines.Length;
            for (var i = 0; i < _count; i++)
            {
                result[i] = _lines[(first + i) % _lines.Length];
            }

            return result;
        }
    }

    /// <summary>The last few lines joined for an error message, at most <paramref name="maxChars"/> characters.</summary>
    public string Tail(int maxLines, int maxChars)
    {
        var lines = Snapshot();
        if (lines.Length == 0)
        {
            return "(none)";
        }

        var builder = new StringBuilder();
        for (var i = Math.Max(0, lines.Length - maxLines); i < lines.Length; i++)
        {
            if (builder.Length > 0)
            {
                builder.Append(" | ");
            }

            builder.Append(lines[i]);
        }

        if (builder.Length > maxChars)
        {
            // Keep the end: the last lines usually name the error.
            builder.Remove(0, builder.Length - maxChars).Insert(0, '…');
        }

        return builder.ToString();
    }
}
