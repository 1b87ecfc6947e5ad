using Archestra.Runtime.Buffers;

namespace Archestra.Runtime.Stdio;

/// <summary>What a <see cref="LineSplitter"/> reports. The spans are only valid during the call.</summary>
internal interface ILineSink
{
    /// <summary>One line without its LF (a line cut by the end of the stream counts too).</summary>
    void OnLine(ReadOnlySpan<byte> line);

    /// <summary>A line reached the limit without an LF: its first <c>maxLineBytes</c> bytes. The rest is dropped.</summary>
    void OnOverlong(ReadOnlySpan<byte> head);

    /// <summary>The overlong line ended (LF or end of stream): its last bytes, and its whole length in bytes.</summary>
    void OnOverlongEnd(ReadOnlySpan<byte> tail, long length);
}

/// <summary>
/// Splits a child's output into LF-terminated lines holding at most <c>maxLineBytes</c> of a line in memory: past
/// that, the line is reported once, counted and dropped up to its LF, and the buffer shrinks back. A process that
/// writes hundreds of MiB without a newline costs the limit, not what it wrote.
/// </summary>
internal static class LineSplitter
{
    // Enough for the end of a JSON-RPC response: ,"id":9223372036854775807} with room for whitespace.
    public const int TailBytes = 128;

    public static async Task ReadAsync(Stream stream, int maxLineBytes, int initialBufferBytes, ILineSink sink)
    {
        var initial = Math.Min(initialBufferBytes, maxLineBytes);
        var buffer = BytePool.Rent(initial);
        var tail = new byte[TailBytes];
        var tailLength = 0;
        var start = 0;
        var end = 0;
        var scanned = 0;
        long overlong = -1;
        try
        {
            while (true)
            {
                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        buffer.AsSpan(start, end - start).CopyTo(buffer);
                        end -= start;
                        scanned -= start;
                        start = 0;
                    }
                    else
                    {
                        // Only a line still under the limit fills the buffer; an overlong one was reported and dropped.
                        var bigger = BytePool.Rent(Math.Min(buffer.Length * 2, maxLineBytes));
                        buffer.AsSpan(0, end).CopyTo(bigger);
                        BytePool.Return(buffer);
                        buffer = bigger;
                    }
                }

                int read;
                try
                {
                    read = await stream.ReadAsync(buffer.AsMemory(end), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                    read = 0;
                }

                if (read == 0)
                {
                    break;
                }

                end += read;
                while (start < end)
                {
                    if (overlong >= 0)
                    {
                        var rest = buffer.AsSpan(start, end - start);
                        var lf = rest.IndexOf((byte)'\n');
                        var dropped = lf < 0 ? rest : rest[..lf];
                        overlong += dropped.Length;
                        KeepTail(tail, ref tailLength, dropped);
                        if (lf < 0)
                        {
                            start = end;
                            break;
                        }

                        sink.OnOverlongEnd(tail.AsSpan(0, tailLength), overlong);
                        overlong = -1;
                        tailLength = 0;
                        start = scanned = start + lf + 1;
                        continue;
                    }

                    var newline = buffer.AsSpan(scanned, end - scanned).IndexOf((byte)'\n');
                    if (newline >= 0)
                    {
                        sink.OnLine(buffer.AsSpan(start, scanned + newline - start));
                        start = scanned = scanned + newline + 1;
                        continue;
                    }

                    scanned = end;
                    if (end - start >= maxLineBytes)
                    {
                        sink.OnOverlong(buffer.AsSpan(start, maxLineBytes));
                        overlong = end - start;
                        KeepTail(tail, ref tailLength, buffer.AsSpan(start, end - start));
                        start = end;
                    }

                    break;
                }

                if (start == end)
                {
                    start = end = scanned = 0;

                    // A buffer grown past what the pool keeps, for one large message, is not kept for the small ones after it.
                    if (buffer.Length > BytePool.MaxPooledLength)
                    {
                        BytePool.Return(buffer);
                        buffer = BytePool.Rent(initial);
                    }
                }
            }

            if (overlong >= 0)
            {
                sink.OnOverlongEnd(tail.AsSpan(0, tailLength), overlong);
            }
            else if (end > start)
            {
                sink.OnLine(buffer.AsSpan(start, end - start));
            }
        }
        finally
        {
            BytePool.Return(buffer);
        }
    }

    private static void KeepTail(byte[] tail, ref int tailLength, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= tail.Length)
        {
            bytes[^tail.Length..].CopyTo(tail);
            tailLength = tail.Length;
            return;
        }

        var keep = Math.Min(tailLength, tail.Length - bytes.Length);
        tail.AsSpan(tailLength - keep, keep).CopyTo(tail);
        bytes.CopyTo(tail.AsSpan(keep));
        tailLength = keep + bytes.Length;
    }
}
