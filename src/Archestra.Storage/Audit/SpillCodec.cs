using System.Buffers.Binary;
using System.Text;

namespace Archestra.Storage;

/// <summary>
/// The spill file's record encoding. A file is an 8-byte header (<c>ARCSPL01</c>) followed by frames:
/// <c>u32 payload length, u32 CRC-32C of the payload, payload</c>, little endian. The payload is a tag byte
/// (<see cref="SpillTag"/>: the record kind and its field layout version) and the record's fields in declaration
/// order: strings as i32 byte length (-1 for null) + UTF-8, integers as i64, decimals as their four 32-bit parts,
/// nullable decimals as a presence byte (0 null, 1 present) followed by the decimal when present.
/// Persisted: a layout never changes; a new layout gets a new tag, and every tag ever written stays readable, so
/// spill files left by an older build replay after an upgrade (the header stays <c>ARCSPL01</c> for that reason).
/// </summary>
internal static class SpillCodec
{
    /// <summary>Frame tags. Persisted: append only; readers keep every tag.</summary>
    private enum SpillTag : byte
    {
        McpToolCall = 1,

        /// <summary>Cost as a plain decimal (0 when unknown). Written until schema 5; read only.</summary>
        LlmInteractionV1 = 2,

        /// <summary>Cost as a nullable decimal: null when the model has no price. Written until schema 6; read only.</summary>
        LlmInteractionV2 = 3,

        /// <summary><see cref="McpToolCall"/>'s layout followed by the agent id and agent session id (schema 6).</summary>
        McpToolCallV2 = 4,

        /// <summary><see cref="LlmInteractionV2"/>'s layout followed by the agent id and agent session id (schema 6).</summary>
        LlmInteractionV3 = 5,
    }

    public static ReadOnlySpan<byte> Header => "ARCSPL01"u8;

    public const int FrameOverhead = 8;

    /// <summary>Upper bound on one payload: arguments and errors are capped well below this; a larger length is corruption.</summary>
    public const int MaxPayload = 16 * 1024 * 1024;

    public static void WriteFrame(SpillBuffer output, AuditRecord record)
    {
        var start = output.Length;
        output.GetSpan(FrameOverhead);
        output.Advance(FrameOverhead);
        switch (record)
        {
            case McpToolCallRecord m:
                WriteByte(output, (byte)SpillTag.McpToolCallV2);
                WriteCommon(output, m);
                WriteString(output, m.SessionId);
                WriteString(output, m.Server);
                WriteString(output, m.Tool);
                WriteString(output, m.Decision);
                WriteString(output, m.PolicyId);
                WriteString(output, m.Outcome);
                WriteInt64(output, m.DurationMicroseconds);
                WriteInt64(output, m.RequestBytes);
                WriteInt64(output, m.ResponseBytes);
                WriteString(output, m.Error);
                WriteString(output, m.Arguments);
                WriteAgent(output, m);
                break;
            case LlmInteractionRecord l:
                WriteByte(output, (byte)SpillTag.LlmInteractionV3);
                WriteCommon(output, l);
                WriteString(output, l.Provider);
                WriteString(output, l.RequestedModel);
                WriteString(output, l.UsedModel);
                WriteInt64(output, l.InputTokens);
                WriteInt64(output, l.OutputTokens);
                WriteInt64(output, l.CachedInputTokens);
                WriteInt64(output, l.ReasoningTokens);
                WriteNullableDecimal(output, l.Cost);
                WriteInt64(output, l.DurationMicroseconds);
                WriteInt64(output, l.TimeToFirstTokenMicroseconds ?? long.MinValue);
                WriteString(output, l.Status);
                WriteString(output, l.BlockedTools);
                WriteString(output, l.Error);
                WriteAgent(output, l);
                break;
            default:
                throw new ArgumentException("Unknown audit record type " + record.GetType().Name, nameof(record));
        }

        var frame = output.Written[start..];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(frame.Length - FrameOverhead));
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], Crc32C(frame[FrameOverhead..]));
    }

    /// <summary>Decodes one payload (without the frame header); false when it does not parse.</summary>
    public static bool TryReadPayload(ReadOnlySpan<byte> payload, out AuditRecord? record)
    {
        record = null;
        try
        {
            var reader = new SpanReader(payload);
            var kind = (SpillTag)reader.Byte();
            var id = reader.Guid();
            var time = AuditTime.FromUnixMicroseconds(reader.Int64());
            var profile = reader.String() ?? "";
            switch (kind)
            {
                case SpillTag.McpToolCall or SpillTag.McpToolCallV2:
                    record = new McpToolCallRecord
                    {
                        Id = id,
                        Time = time,
                        Profile = profile,
                        SessionId = reader.String(),
                        Server = reader.String() ?? "",
                        Tool = reader.String() ?? "",
                        Decision = reader.String() ?? "",
                        PolicyId = reader.String(),
                        Outcome = reader.String() ?? "",
                        DurationMicroseconds = reader.Int64(),
                        RequestBytes = reader.Int64(),
                        ResponseBytes = reader.Int64(),
                        Error = reader.String(),
                        Arguments = reader.String(),
                        AgentId = kind == SpillTag.McpToolCallV2 ? reader.String() : null,
                        AgentSessionId = kind == SpillTag.McpToolCallV2 ? reader.String() : null,
                    };
                    break;
                case SpillTag.LlmInteractionV1 or SpillTag.LlmInteractionV2 or SpillTag.LlmInteractionV3:
                    var provider = reader.String() ?? "";
                    var requested = reader.String() ?? "";
                    var used = reader.String();
                    var input = reader.Int64();
                    var output = reader.Int64();
                    var cached = reader.Int64();
                    var reasoning = reader.Int64();
                    var cost = kind == SpillTag.LlmInteractionV1 ? reader.Decimal() : reader.NullableDecimal();
                    var duration = reader.Int64();
                    var ttft = reader.Int64();
                    record = new LlmInteractionRecord
                    {
                        Id = id,
                        Time = time,
                        Profile = profile,
                        Provider = provider,
                        RequestedModel = requested,
                        UsedModel = used,
                        InputTokens = input,
                        OutputTokens = output,
                        CachedInputTokens = cached,
                        ReasoningTokens = reasoning,
                        Cost = cost,
                        DurationMicroseconds = duration,
                        TimeToFirstTokenMicroseconds = ttft == long.MinValue ? null : ttft,
                        Status = reader.String() ?? "",
                        BlockedTools = reader.String(),
                        Error = reader.String(),
                        AgentId = kind == SpillTag.LlmInteractionV3 ? reader.String() : null,
                        AgentSessionId = kind == SpillTag.LlmInteractionV3 ? reader.String() : null,
                    };
                    break;
                default:
                    return false;
            }

            return reader.AtEnd;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>CRC-32C (Castagnoli); <see cref="System.Numerics.BitOperations.Crc32C(uint, ulong)"/> uses the SSE 4.2 / ARMv8 instruction.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        while (data.Length >= 8)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }

    private static void WriteCommon(SpillBuffer output, AuditRecord record)
    {
        var span = output.GetSpan(16);
        record.Id.TryWriteBytes(span, bigEndian: true, out _);
        output.Advance(16);
        WriteInt64(output, AuditTime.ToUnixMicroseconds(record.Time));
        WriteString(output, record.Profile);
    }

    private static void WriteAgent(SpillBuffer output, AuditRecord record)
    {
        WriteString(output, record.AgentId);
        WriteString(output, record.AgentSessionId);
    }

    private static void WriteByte(SpillBuffer output, byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    private static void WriteInt64(SpillBuffer output, long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    private static void WriteDecimal(SpillBuffer output, decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var span = output.GetSpan(16);
        for (var i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[(i * 4)..], bits[i]);
        }

        output.Advance(16);
    }

    private static void WriteNullableDecimal(SpillBuffer output, decimal? value)
    {
        WriteByte(output, value is null ? (byte)0 : (byte)1);
        if (value is { } present)
        {
            WriteDecimal(output, present);
        }
    }

    private static void WriteString(SpillBuffer output, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(output.GetSpan(4), -1);
            output.Advance(4);
            return;
        }

        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var span = output.GetSpan(4 + max);
        var written = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, written);
        output.Advance(4 + written);
    }

    private ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public readonly bool AtEnd => _data.IsEmpty;

        public byte Byte() => Take(1)[0];

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public Guid Guid() => new(Take(16), bigEndian: true);

        public decimal Decimal()
        {
            var bytes = Take(16);
            Span<int> bits = stackalloc int[4];
            for (var i = 0; i < 4; i++)
            {
                bits[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]);
            }

            try
            {
                return new decimal(bits);
            }
            catch (ArgumentException e)
            {
                throw new FormatException("bad decimal", e);
            }
        }

        public decimal? NullableDecimal() =>
            Byte() switch
            {
                0 => null,
                1 => Decimal(),
                _ => throw new FormatException("bad presence byte"),
            };

        public string? String()
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
            return length switch
            {
                -1 => null,
                < -1 => throw new FormatException("bad string length"),
                _ => Encoding.UTF8.GetString(Take(length)),
            };
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > _data.Length)
            {
                throw new FormatException("truncated payload");
            }

            var result = _data[..count];
            _data = _data[count..];
            return result;
        }
    }
}

/// <summary>A growable byte buffer whose written part stays writable (the frame header is patched after the payload).</summary>
internal sealed class SpillBuffer
{
    private byte[] _buffer = new byte[64 * 1024];

    public int Length { get; private set; }

    public Span<byte> Written => _buffer.AsSpan(0, Length);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, Length);

    public Span<byte> GetSpan(int size)
    {
        if (_buffer.Length - Length < size)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + size));
        }

        return _buffer.AsSpan(Length);
    }

    public void Advance(int count) => Length += count;

    public void Clear() => Length = 0;
}
