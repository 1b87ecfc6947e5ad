using System.Text;
using Archestra.Runtime.Stdio;

namespace Archestra.Runtime.Tests;

public class LineSplitterTests
{
    /// <summary>Hands out its bytes a few at a time, as a pipe does.</summary>
    private sealed class Trickle(byte[] bytes, int piece) : Stream
    {
        private int _position;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, piece), bytes.Length - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => bytes.Length;
        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class Recorder : ILineSink
    {
        public List<string> Events { get; } = [];

        public void OnLine(ReadOnlySpan<byte> line) => Events.Add("line " + Encoding.UTF8.GetString(line));

        public void OnOverlong(ReadOnlySpan<byte> head) => Events.Add("head " + Encoding.UTF8.GetString(head));

        public void OnOverlongEnd(ReadOnlySpan<byte> tail, long length) => Events.Add($"end {length} {Encoding.UTF8.GetString(tail)}");
    }

    private static async Task<List<string>> SplitAsync(string text, int maxLineBytes, int piece)
    {
        var recorder = new Recorder();
        await LineSplitter.ReadAsync(new Trickle(Encoding.UTF8.GetBytes(text), piece), maxLineBytes, initialBufferBytes: 4, recorder);
        return recorder.Events;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public async Task Lines_under_the_limit_arrive_whole_however_the_bytes_are_cut(int piece)
    {
        var events = await SplitAsync("one\ntwo two\n\nlast without newline", maxLineBytes: 64, piece);

        Assert.Equal(["line one", "line two two", "line ", "line last without newline"], events);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1000)]
    public async Task An_overlong_line_is_reported_by_its_head_its_tail_and_its_length_and_the_next_line_is_whole(int piece)
    {
        var overlong = "0123456789" + new string('-', 300) + "THE-END";

        var events = await SplitAsync("short\n" + overlong + "\nafter\n", maxLineBytes: 10, piece);

        Assert.Equal(4, events.Count);
        Assert.Equal("line short", events[0]);
        Assert.Equal("head 0123456789", events[1]);
        Assert.StartsWith($"end {overlong.Length} ", events[2], StringComparison.Ordinal);
        Assert.EndsWith("-THE-END", events[2], StringComparison.Ordinal);
        Assert.Equal(LineSplitter.TailBytes, events[2].Length - $"end {overlong.Length} ".Length);
        Assert.Equal("line after", events[3]);
    }

    [Fact]
    public async Task An_overlong_line_cut_by_the_end_of_the_stream_still_reports_its_length()
    {
        var events = await SplitAsync("abcdefghijklmnop", maxLineBytes: 8, piece: 5);

        Assert.Equal(["head abcdefgh", "end 16 abcdefghijklmnop"], events);
    }
}
