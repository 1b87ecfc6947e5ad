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

    /// <summary>Returns one byte per read, like a slow network.</summary>
    private sealed class TrickleStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

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

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
