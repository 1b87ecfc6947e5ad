using System.Text;
using Archestra.Runtime.Buffers;

namespace Archestra.Runtime.Http;

/// <summary>
/// Reads server-sent events from a stream as defined by the WHATWG HTML "event stream interpretation"
/// (§9.2.6): lines end in CRLF, LF or CR; <c>data</c> lines are joined with LF; <c>id</c> persists across
/// events; lines starting with a colon are comments; an event is dispatched on an empty line and an
/// incomplete event at end of stream is discarded. Buffers are pooled; the current event's data stays
/// valid until the next call to <see cref="ReadEventAsync"/>.
/// <para>
/// With <c>keepRaw</c> (the LLM proxy, which relays each event as the provider wrote it) every blank line dispatches,
/// with or without data, and <see cref="RawEvent"/> holds the event's bytes as they arrived: the raw events together
/// are the stream, byte for byte, except an incomplete last event.
/// </para>
/// </summary>
public sealed class SseReader : IDisposable
{
    // Large enough for a typical JSON-RPC result in one read; grows for bigger lines.
    private const int InitialBufferSize = 16 * 1024;

    private readonly Stream _stream;
    private readonly int _maxEventBytes;
    private readonly bool _keepRaw;
    private byte[] _buffer;
    private int _start;
    private int _end;

    // Bytes before this index hold no line break: a long line is scanned once, not once per read (which was
    // quadratic: a 64 MiB event took ~a minute of CPU).
    private int _scanned;
    private bool _eof;

    // A CR ended the previous line; an LF right after it belongs to the same line break.
    private bool _skipLf;
    private bool _atStart = true;

    // The current event: whether a data line was seen, how many, where the first one's value starts in _buffer
    // (keepRaw), where its raw bytes start and end, and whether it was returned (its state resets on the next read).
    private bool _dataSeen;
    private int _dataLines;
    private int _dataStart;
    private int _eventStart;
    private int _rawEnd;
    private bool _dispatched;

    private byte[] _data;
    private int _dataLength;
    private byte[] _eventType = new byte[32];
    private int _eventTypeLength;
    private byte[] _pendingId = new byte[64];
    private int _pendingIdLength;
    private bool _idSeen;
    private string? _lastEventId;
    private bool _disposed;

    /// <param name="keepRaw">Keep each event's raw bytes (<see cref="RawEvent"/>) and dispatch events without data too.</param>
    public SseReader(Stream stream, int maxEventBytes, bool keepRaw = false)
    {
        _stream = stream;
        _maxEventBytes = maxEventBytes;
        _keepRaw = keepRaw;
        _buffer = BytePool.Rent(InitialBufferSize);
        _data = BytePool.Rent(InitialBufferSize);
    }

    /// <summary>The current event's type; empty means the default type <c>message</c>.</summary>
    public ReadOnlySpan<byte> EventType => _eventType.AsSpan(0, _eventTypeLength);

    /// <summary>The current event's data: its data lines joined by LF, without the trailing LF.</summary>
    public ReadOnlySpan<byte> Data => _data.AsSpan(0, _dataLength);

    /// <summary>The last event id the stream set (it persists across events, as Last-Event-ID requires).</summary>
    public string? LastEventId => _lastEventId;

    /// <summary>The reconnection time the server asked for with a <c>retry</c> field, if any.</summary>
    public int? RetryMilliseconds { get; private set; }

    public bool IsMessage => _eventTypeLength == 0 || EventType.SequenceEqual("message"u8);

    /// <summary>keepRaw: the current event as it arrived, from its first byte to the end of the blank line that ended it.</summary>
    public ReadOnlySpan<byte> RawEvent => _keepRaw ? _buffer.AsSpan(_eventStart, _rawEnd - _eventStart) : default;

    /// <summary>
    /// keepRaw: where <see cref="Data"/> starts in <see cref="RawEvent"/> when it came from exactly one data line (so
    /// a range of it is a range of the raw event); -1 when the event has no data line or several.
    /// </summary>
    public int DataOffset => _keepRaw && _dataLines == 1 ? _dataStart - _eventStart : -1;

    /// <summary>Reads up to the next dispatched event. False at end of stream.</summary>
    public async ValueTask<bool> ReadEventAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryReadBufferedEvent())
            {
                return true;
            }

            if (_eof)
            {
                return _keepRaw && TryDispatchTrailingLineBreaks();
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The next event when the bytes already read complete it, without reading the stream; false when more bytes are
    /// needed (then <see cref="ReadEventAsync"/>). Lets a relay write every event of one read before it flushes.
    /// </summary>
    public bool TryReadBufferedEvent()
    {
        if (_dispatched)
        {
            _dispatched = false;
            _dataLength = 0;
            _eventTypeLength = 0;
            _dataSeen = false;
            _dataLines = 0;
            _eventStart = _start;
        }

        while (TryTakeLine(out var lineStart, out var lineLength))
        {
            if (lineLength == 0)
            {
                if (_idSeen)
                {
                    CommitId();
                }

                if (_dataSeen || _keepRaw)
                {
                    Dispatch();
                    return true;
                }

                _eventTypeLength = 0;
                continue;
            }

            ProcessField(lineStart, lineLength);
        }

        return false;
    }

    private void Dispatch()
    {
        // The LF of a CRLF that ended the blank line belongs to this event's bytes when it is already here; when it
        // is not, the next event's raw bytes start with it.
        if (_skipLf && _start < _end && _buffer[_start] == (byte)'\n')
        {
            _start++;
            _scanned = Math.Max(_scanned, _start);
            _skipLf = false;
        }

        _rawEnd = _start;
        _dispatched = true;
    }

    /// <summary>keepRaw, at end of stream: the LF of a CRLF that arrived after its event was dispatched, so no byte is lost.</summary>
    private bool TryDispatchTrailingLineBreaks()
    {
        var rest = _buffer.AsSpan(_eventStart, _end - _eventStart);
        if (_dispatched || rest.IsEmpty || rest.IndexOfAnyExcept((byte)'\r', (byte)'\n') >= 0)
        {
            return false;
        }

        _start = _end;
        Dispatch();
        return true;
    }

    private bool TryTakeLine(out int lineStart, out int lineLength)
    {
        lineStart = 0;
        lineLength = 0;
        if (_skipLf && _start < _end)
        {
            if (_buffer[_start] == (byte)'\n')
            {
                _start++;
            }

            _skipLf = false;
        }

        var span = _buffer.AsSpan(_start, _end - _start);
        if (_atStart && span.Length >= 3)
        {
            // A UTF-8 byte order mark at the very beginning of the stream is ignored (§9.2.6).
            if (span.StartsWith("\uFEFF"u8))
            {
                _start += 3;
                span = span[3..];
            }

            _atStart = false;
        }
        else if (_atStart && (_eof || span.Length > 0 && span[0] != 0xEF))
        {
            _atStart = false;
        }

        if (_atStart)
        {
            return false;
        }

        var from = Math.Max(_scanned - _start, 0);
        var index = span[from..].IndexOfAny((byte)'\r', (byte)'\n');
        if (index < 0)
        {
            _scanned = _end;
            return false;
        }

        index += from;
        lineStart = _start;
        lineLength = index;
        _start += index + 1;
        _scanned = _start;
        if (span[index] == (byte)'\r')
        {
            _skipLf = true;
        }

        return true;
    }

    private void ProcessField(int lineStart, int lineLength)
    {
        var line = _buffer.AsSpan(lineStart, lineLength);
        if (line[0] == (byte)':')
        {
            return;
        }

        ReadOnlySpan<byte> name;
        ReadOnlySpan<byte> value;
        var colon = line.IndexOf((byte)':');
        if (colon < 0)
        {
            name = line;
            value = default;
        }
        else
        {
            name = line[..colon];
            value = line[(colon + 1)..];
            if (!value.IsEmpty && value[0] == (byte)' ')
            {
                value = value[1..];
            }
        }

        if (name.SequenceEqual("data"u8))
        {
            if (_dataLines++ == 0)
            {
                _dataStart = lineStart + (lineLength - value.Length);
            }

            var needed = _dataLength + (_dataSeen ? 1 : 0) + value.Length;
            if (needed > _maxEventBytes)
            {
                ThrowTooLarge(_maxEventBytes);
            }

            EnsureCapacity(ref _data, _dataLength, needed);
            if (_dataSeen)
            {
                _data[_dataLength++] = (byte)'\n';
            }

            value.CopyTo(_data.AsSpan(_dataLength));
            _dataLength += value.Length;
            _dataSeen = true;
        }
        else if (name.SequenceEqual("event"u8))
        {
            if (value.Length > _eventType.Length)
            {
                _eventType = new byte[value.Length];
            }

            value.CopyTo(_eventType);
            _eventTypeLength = value.Length;
        }
        else if (name.SequenceEqual("id"u8))
        {
            // An id containing NUL is ignored (§9.2.6).
            if (value.IndexOf((byte)0) < 0 && value.Length <= 1024)
            {
                if (value.Length > _pendingId.Length)
                {
                    _pendingId = new byte[value.Length];
                }

                value.CopyTo(_pendingId);
                _pendingIdLength = value.Length;
                _idSeen = true;
            }
        }
        else if (name.SequenceEqual("retry"u8))
        {
            if (!value.IsEmpty && value.Length <= 9 && value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
            {
                var ms = 0;
                foreach (var b in value)
                {
                    ms = (ms * 10) + (b - '0');
                }

                RetryMilliseconds = ms;
            }
        }
    }

    private void CommitId()
    {
        _idSeen = false;
        var id = _pendingId.AsSpan(0, _pendingIdLength);
        // Servers often resend the same id; keep the existing string instead of allocating a copy.
        if (_lastEventId is not null && Ascii.Equals(id, _lastEventId))
        {
            return;
        }

        _lastEventId = id.IsEmpty ? null : Encoding.UTF8.GetString(id);
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        // keepRaw: the bytes of the event being read stay, from its first one.
        var keep = _keepRaw ? _eventStart : _start;
        if (keep > 0)
        {
            _buffer.AsSpan(keep, _end - keep).CopyTo(_buffer);
            _end -= keep;
            _start -= keep;
            _scanned = Math.Max(_scanned - keep, 0);
            _dataStart -= keep;
            _eventStart -= keep;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= _maxEventBytes)
            {
                ThrowTooLarge(_maxEventBytes);
            }

            EnsureCapacity(ref _buffer, _end, _buffer.Length * 2);
        }

        var read = await _stream
            .ReadAsync(_buffer.AsMemory(_end, Math.Min(_buffer.Length - _end, UpstreamHttp.MaxReadBytes)), cancellationToken)
            .ConfigureAwait(false);
        if (read == 0)
        {
            _eof = true;
            return;
        }

        _end += read;
    }

    private static void EnsureCapacity(ref byte[] buffer, int used, int needed)
    {
        if (needed <= buffer.Length)
        {
            return;
        }

        var bigger = BytePool.Rent(Math.Max(needed, buffer.Length * 2));
        buffer.AsSpan(0, used).CopyTo(bigger);
        BytePool.Return(buffer);
        buffer = bigger;
    }

    private static void ThrowTooLarge(int limit) => throw new InvalidDataException($"a server-sent event is larger than {limit} bytes");

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        BytePool.Return(_buffer);
        BytePool.Return(_data);
        _buffer = [];
        _data = [];
    }
}
