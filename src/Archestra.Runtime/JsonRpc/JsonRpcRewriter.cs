using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;

namespace Archestra.Runtime.JsonRpc;

/// <summary>
/// Copies a JSON-RPC message while replacing up to three value ranges. The gateway never
/// re-serializes a message it forwards: the id, the tool or prompt name and the progress token are
/// swapped as bytes and everything else (arguments, results) is copied unchanged.
/// </summary>
public static class JsonRpcRewriter
{
    /// <summary>One replacement: the range in the source and the bytes that take its place.</summary>
    public readonly ref struct Edit
    {
        public readonly Slice Range;
        public readonly ReadOnlySpan<byte> Value;

        public Edit(Slice range, ReadOnlySpan<byte> value)
        {
            Range = range;
            Value = value;
        }

        public bool IsNone => Range.Length == 0 && Value.IsEmpty;
    }

    /// <summary>Upper bound of the rewritten size, for sizing a destination buffer.</summary>
    public static int MaxLength(int sourceLength, in Edit a, in Edit b = default, in Edit c = default) =>
        sourceLength + a.Value.Length + b.Value.Length + c.Value.Length;

    /// <summary>
    /// Writes <paramref name="source"/> into <paramref name="destination"/> with the edits applied; edits
    /// with an empty range and value are ignored. Returns the number of bytes written.
    /// </summary>
    public static int Rewrite(ReadOnlySpan<byte> source, Span<byte> destination, in Edit a, in Edit b = default, in Edit c = default)
    {
        // Sort the (at most three) edits by position without allocating.
        Edit e0 = a,
            e1 = b,
            e2 = c;
        if (Later(e0, e1))
        {
            Swap(ref e0, ref e1);
        }

        if (Later(e1, e2))
        {
            Swap(ref e1, ref e2);
        }

        if (Later(e0, e1))
        {
            Swap(ref e0, ref e1);
        }

        var written = 0;
        var pos = 0;
        Apply(source, destination, e0, ref pos, ref written);
        Apply(source, destination, e1, ref pos, ref written);
        Apply(source, destination, e2, ref pos, ref written);
        source[pos..].CopyTo(destination[written..]);
        return written + source.Length - pos;
    }

    /// <summary>Rewrites into an <see cref="IBufferWriter{T}"/>.</summary>
    public static void Rewrite(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, in Edit a, in Edit b = default, in Edit c = default)
    {
        var max = MaxLength(source.Length, a, b, c);
        var span = destination.GetSpan(max);
        var n = Rewrite(source, span, a, b, c);
        destination.Advance(n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Later(in Edit x, in Edit y) => !y.IsNone && (x.IsNone || x.Range.Start > y.Range.Start);

    private static void Swap(ref Edit x, ref Edit y)
    {
        var t = x;
        x = y;
        y = t;
    }

    private static void Apply(ReadOnlySpan<byte> source, Span<byte> destination, in Edit edit, ref int pos, ref int written)
    {
        if (edit.IsNone)
        {
            return;
        }

        var gap = edit.Range.Start - pos;
        source.Slice(pos, gap).CopyTo(destination[written..]);
        written += gap;
        edit.Value.CopyTo(destination[written..]);
        written += edit.Value.Length;
        pos = edit.Range.End;
    }

    /// <summary>A new array holding <paramref name="source"/> with one range replaced, sized exactly (one copy).</summary>
    public static byte[] Replace(ReadOnlySpan<byte> source, Slice range, ReadOnlySpan<byte> value)
    {
        var result = new byte[source.Length - range.Length + value.Length];
        Rewrite(source, result, new Edit(range, value));
        return result;
    }

    /// <summary>Formats a non-negative id as JSON number text into <paramref name="destination"/>.</summary>
    public static int FormatId(long id, Span<byte> destination)
    {
        Utf8Formatter.TryFormat(id, destination, out var n);
        return n;
    }

    /// <summary>Parses a JSON number id produced by <see cref="FormatId"/>; false for anything else.</summary>
    public static bool TryParseId(ReadOnlySpan<byte> raw, out long id) => Utf8Parser.TryParse(raw, out id, out var consumed) && consumed == raw.Length;
}
