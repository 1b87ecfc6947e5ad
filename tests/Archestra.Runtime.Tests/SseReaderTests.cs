using System.Text;
using Archestra.Runtime.Http;

namespace Archestra.Runtime.Tests;

public class SseReaderTests
{
    private sealed record Event(string Type, string Data, string? LastEventId);

    private static async Task<List<Event>> ReadAllAsync(string text, bool oneByteAtATime = false, int maxEventBytes = 1 << 20)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Stream stream = oneByteAtATime ? new TrickleStream(bytes) : new MemoryStream(bytes);
        using var reader = new SseReader(stream, maxEventBytes);
        var events = new List<Event>();
        while (await reader.ReadEventAsync(TestContext.Current.CancellationToken))
        {
            events.Add(new Event(Encoding.UTF8.GetString(reader.EventType), Encoding.UTF8.GetString(reader.Data), reader.LastEventId));
        }

        return events;
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public async Task Every_line_ending_gives_the_same_events(string eol)
    {
        var text = string.Join(eol, ": a comment", "event: message", "id: 1", "data: {\"a\":1}", "", "data: second", "data: line", "", "");
        foreach (var trickle in new[] { false, true })
        {
            var events = await ReadAllAsync(text, trickle);
            Assert.Equal([new Event("message", "{\"a\":1}", "1"), new Event("", "second\nline", "1")], events);
        }
    }

    [Fact]
    public async Task A_CRLF_split_across_reads_is_one_line_break()
    {
        // One byte per read puts the CR and the LF in different reads.
        var events = await ReadAllAsync("data: a\r\n\r\ndata: b\r\n\r\n", oneByteAtATime: true);
        Assert.Equal(["a", "b"], events.Select(e => e.Data));
    }

    [Fact]
    public async Task Field_values_lose_exactly_one_leading_space_and_a_bare_field_name_is_an_empty_value()
    {
        var events = await ReadAllAsync("data:x\n\ndata:  two spaces\n\ndata\ndata\n\n");
        Assert.Equal(["x", " two spaces", "\n"], events.Select(e => e.Data));
    }

    [Fact]
    public async Task An_event_without_data_lines_is_not_dispatched_but_its_id_is_kept()
    {
        // The 2025-11-25 "priming" event (an id and one empty data line) is dispatched with empty data.
        var events = await ReadAllAsync("id: prime-1\ndata:\n\nevent: ping\nid: 2\n\ndata: real\n\n");
        Assert.Equal([new Event("", "", "prime-1"), new Event("", "real", "2")], events);
    }

    [Fact]
    public async Task An_incomplete_event_at_the_end_of_the_stream_is_discarded()
    {
        var events = await ReadAllAsync("data: complete\n\ndata: cut off");
        Assert.Equal(["complete"], events.Select(e => e.Data));
    }

    [Fact]
    public async Task A_leading_byte_order_mark_is_ignored()
    {
        var events = await ReadAllAsync("\uFEFFdata: after bom\n\n", oneByteAtATime: true);
        Assert.Equal(["after bom"], events.Select(e => e.Data));
    }

    [Fact]
    public async Task Retry_sets_the_reconnection_time_and_an_empty_id_clears_the_last_event_id()
    {
        var bytes = Encoding.UTF8.GetBytes("retry: 1500\nid: 7\ndata: a\n\nid\ndata: b\n\nretry: soon\n\n");
        using var reader = new SseReader(new MemoryStream(bytes), 1 << 20);
        var ct = TestContext.Current.CancellationToken;
        Assert.True(await reader.ReadEventAsync(ct));
        Assert.Equal("7", reader.LastEventId);
        Assert.Equal(1500, reader.RetryMilliseconds);
        Assert.True(await reader.ReadEventAsync(ct));
        Assert.Null(reader.LastEventId);
        Assert.False(await reader.ReadEventAsync(ct));
        Assert.Equal(1500, reader.RetryMilliseconds);
    }

    [Fact]
    public async Task Events_larger_than_the_buffer_are_read_whole()
    {
        var big = new string('x', 100_000);
        var events = await ReadAllAsync($"data: {big}\ndata: {big}\n\n");
        Assert.Equal(big + "\n" + big, Assert.Single(events).Data);
    }

    [Fact]
    public async Task An_event_over_the_limit_is_rejected()
    {
        await Assert.ThrowsAsync<InvalidDataException>(() => ReadAllAsync($"data: {new string('x', 5000)}\n\n", maxEventBytes: 1000));
    }

    /// <summary>Reads with keepRaw: each event's raw bytes, its data and the data's offset in the raw bytes.</summary>
    private static async Task<List<(string Raw, string Data, int DataOffset)>> ReadRawAsync(string text, bool oneByteAtATime)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Stream stream = oneByteAtATime ? new TrickleStream(bytes) : new MemoryStream(bytes);
        using var reader = new SseReader(stream, 1 << 20, keepRaw: true);
        var events = new List<(string, string, int)>();
        while (await reader.ReadEventAsync(TestContext.Current.CancellationToken))
        {
            do
            {
                events.Add((Encoding.UTF8.GetString(reader.RawEvent), Encoding.UTF8.GetString(reader.Data), reader.DataOffset));
            } while (reader.TryReadBufferedEvent());
        }

        return events;
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public async Task With_keep_raw_the_raw_events_are_the_stream_byte_for_byte_whatever_the_line_ends_and_the_reads(string eol)
    {
        var text = string.Join(eol, ": ping", "", "event: delta", "data: {\"a\":1}", "", "data: one", "data: two", "", "", "data: last", "", "");
        foreach (var trickle in new[] { false, true })
        {
            var events = await ReadRawAsync(text, trickle);
            Assert.Equal(text, string.Concat(events.Select(static e => e.Raw)));

            // Every blank line dispatches: the comment-only event with empty data, and the extra blank line on its own.
            Assert.Equal(["", "{\"a\":1}", "one\ntwo", "last"], events.Where(static e => e.Raw.Trim('\r', '\n').Length > 0).Select(static e => e.Data));
            Assert.Contains(events, static e => e.Raw.Trim('\r', '\n').Length == 0);
            foreach (var (raw, data, offset) in events)
            {
                if (offset >= 0)
                {
                    Assert.Equal(data, raw.Substring(offset, data.Length));
                }
            }

            Assert.Equal(-1, events.Single(static e => e.Data == "one\ntwo").DataOffset);
        }
    }

    [Fact]
    public async Task With_keep_raw_the_LF_of_a_CRLF_that_arrives_after_its_blank_line_is_still_relayed()
    {
        // One byte per read: the CR ends the blank line (the event is dispatched) before the LF is read.
        var events = await ReadRawAsync("data: a\r\n\r\n", oneByteAtATime: true);
        Assert.Equal("data: a\r\n\r\n", string.Concat(events.Select(static e => e.Raw)));
        Assert.Equal("a", events[0].Data);
    }

    [Fact]
    public async Task Without_keep_raw_events_without_data_are_still_not_dispatched_and_no_raw_bytes_are_kept()
    {
        var bytes = Encoding.UTF8.GetBytes(": ping\n\ndata: x\n\n");
        using var reader = new SseReader(new MemoryStream(bytes), 1 << 20);
        Assert.True(await reader.ReadEventAsync(TestContext.Current.CancellationToken));
        Assert.Equal("x", Encoding.UTF8.GetString(reader.Data));
        Assert.True(reader.RawEvent.IsEmpty);
        Assert.Equal(-1, reader.DataOffset);
        Assert.False(await reader.ReadEventAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Returns one byte per read, like a slow network.</summary>
    private sealed class TrickleStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= data.Length || buffer.IsEmpty)
            {
                return 0;
            }

            buffer[0] = data[_position++];
            return 1;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
