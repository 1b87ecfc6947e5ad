using System.Collections.Concurrent;
using Archestra.Runtime.Http;
using Archestra.Runtime.Stdio;
using Archestra.Runtime.Tests.Support;
using Archestra.Runtime.Upstreams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Tests;

/// <summary>Tests that measure this process's managed heap run alone: another test's allocations would blur the numbers.</summary>
[CollectionDefinition(nameof(MemoryMeasurements), DisableParallelization = true)]
public sealed class MemoryMeasurements;

/// <summary>
/// What an upstream sends beyond a limit costs the gateway at most that limit, and nothing once the answer was refused:
/// the managed heap after a full collection (pooled arrays included) stays within a bound far below what was sent.
/// </summary>
[Collection(nameof(MemoryMeasurements))]
public sealed class MemoryBoundsTests
{
    private const long MiB = 1024 * 1024;

    // Far below what each test sends (128 MiB and more) and above the noise of a test run (JIT, Kestrel, loggers).
    private const long Bound = 24 * MiB;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StdioUpstreamOptions TestServer() =>
        new()
        {
            Name = "test-server",
            Command = "node",
            Args = [Paths.StdioTestServer],
            InitialRestartDelay = TimeSpan.FromMilliseconds(50),
        };

    private static long Heap() => GC.GetTotalMemory(forceFullCollection: true);

    /// <summary>
    /// How much the heap grew since <paramref name="before"/>, once it is under <see cref="Bound"/> or after 50 tries:
    /// a refused answer's connection is torn down in the background after the call returned, holding its buffer a
    /// moment longer. What a pool keeps stays for good, so a leak still fails.
    /// </summary>
    private static async Task<long> GrowthAsync(long before)
    {
        var growth = Heap() - before;
        for (var i = 0; i < 50 && growth >= Bound; i++)
        {
            await Task.Delay(100, Ct);
            growth = Heap() - before;
        }

        return growth;
    }

    private static async Task<UpstreamCallResult> CallToolAsync(McpUpstream upstream, string tool, string arguments = "{}")
    {
        var id = upstream.NextId();
        return await upstream.CallAsync(Messages.ToolCall(id, tool, arguments), id, idempotent: false, null, Ct);
    }

    [Fact]
    public async Task A_128_MiB_stderr_line_without_a_newline_costs_no_more_than_its_kept_head_and_the_server_keeps_serving()
    {
        var logger = new RecordingLogger();
        await using var upstream = new StdioUpstream(TestServer(), new RecordingListener(), logger);
        await upstream.StartAsync(Ct);
        var before = Heap();

        // The line is still open when the answer arrives: whatever the gateway buffered of it is alive now.
        var flood = await CallToolAsync(upstream, "stderr-flood", """{"mib":128,"newline":false}""");
        Assert.Equal("flooded", Messages.FirstText(flood));
        var growth = Heap() - before;

        Assert.True(growth < Bound, $"the managed heap grew by {growth / MiB} MiB while a 128 MiB stderr line was open");
        var echo = await CallToolAsync(upstream, "echo", """{"message":"still serving"}""");
        Assert.Equal("still serving", Messages.FirstText(echo));

        await CallToolAsync(upstream, "stderr-flood", """{"mib":0,"newline":true}""");
        await Wait.UntilAsync(
            () =>
                logger.Messages.Any(m => m.Contains("stderr", StringComparison.Ordinal) && m.Contains("kept its first 16384 bytes", StringComparison.Ordinal)),
            "the truncation to be logged"
        );
        var truncated = logger.Messages.First(m => m.Contains("kept its first 16384 bytes", StringComparison.Ordinal));
        Assert.Contains($"wrote a {128 * MiB}-byte line to stderr", truncated, StringComparison.Ordinal);
        Assert.Contains(upstream.RecentStderr, line => line.StartsWith("xxxxxxxx", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_refused_stdout_answer_over_64_MiB_fails_its_call_and_leaves_no_large_buffer_behind()
    {
        await using var upstream = new StdioUpstream(TestServer(), new RecordingListener(), TestLoggerFactory.Instance.CreateLogger("StdioUpstream"));
        await upstream.StartAsync(Ct);
        var before = Heap();

        var huge = await CallToolAsync(upstream, "huge", $$"""{"bytes":{{70 * MiB}},"idFirst":false}""");

        Assert.Equal(UpstreamError.Protocol, huge.Error);
        Assert.Contains($"larger than the limit of {64 * MiB} bytes", huge.Detail, StringComparison.Ordinal);
        var echo = await CallToolAsync(upstream, "echo", """{"message":"after the huge line"}""");
        Assert.Equal("after the huge line", Messages.FirstText(echo));
        var growth = await GrowthAsync(before);
        Assert.True(growth < Bound, $"the managed heap kept {growth / MiB} MiB after a refused 70 MiB answer");
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/event-stream")]
    public async Task Refused_80_MiB_http_answers_leave_the_heap_where_it_was(string mediaType)
    {
        await using var fake = await FakeMcpServer.StartAsync();
        fake.Handler = async (_, request, context) =>
        {
            if (request.RpcMethod != "tools/call")
            {
                return false;
            }

            // Chunked, without a Content-Length: the gateway only learns the size by reading.
            context.Response.ContentType = mediaType;
            var prefix = mediaType == "application/json" ? "" : "data: ";
            await context.Response.WriteAsync(prefix + """{"jsonrpc":"2.0","id":""" + request.RpcId + ""","result":{"content":[{"type":"text","text":" """, Ct);
            var chunk = new string('z', (int)MiB);
            try
            {
                for (var i = 0; i < 80; i++)
                {
                    await context.Response.WriteAsync(chunk, Ct);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // The gateway hung up at its limit.
            }

            return true;
        };
        var options = new HttpUpstreamOptions
        {
            Name = "huge-http",
            Url = fake.Url,
            MaxRetries = 0,
        };
        await using var upstream = new StreamableHttpUpstream(
            options,
            new RecordingListener(),
            TestLoggerFactory.Instance.CreateLogger("StreamableHttpUpstream")
        );
        await upstream.StartAsync(Ct);
        var first = await CallToolAsync(upstream, "huge");
        Assert.Equal(UpstreamError.Protocol, first.Error);
        var before = Heap();

        // Concurrent, so the buffers grow on several pool threads as they do under load.
        var calls = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => CallToolAsync(upstream, "huge")));

        Assert.All(calls, call => Assert.Equal(UpstreamError.Protocol, call.Error));
        Assert.All(calls, call => Assert.Contains($"{UpstreamHttp.MaxMessageBytes}", call.Detail, StringComparison.Ordinal));
        var growth = await GrowthAsync(before);
        Assert.True(growth < Bound, $"the managed heap kept {growth / MiB} MiB after four refused 80 MiB answers");
    }

    private sealed class RecordingLogger : ILogger
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = formatter(state, exception);
            // A stderr line is logged whole: keep the record small.
            Messages.Enqueue(text.Length > 500 ? text[..500] : text);
        }
    }
}
