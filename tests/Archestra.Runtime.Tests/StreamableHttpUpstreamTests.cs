using System.Collections.Concurrent;
using Archestra.Runtime.Http;
using Archestra.Runtime.Tests.Support;
using Archestra.Runtime.Upstreams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Tests;

public class StreamableHttpUpstreamTests
{
    private static readonly ILogger Logger = TestLoggerFactory.Instance.CreateLogger("StreamableHttpUpstream");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<UpstreamCallResult> CallToolAsync(
        McpUpstream upstream,
        string tool,
        bool idempotent,
        string arguments = "{}",
        IUpstreamCallObserver? observer = null,
        bool progress = false
    )
    {
        var id = upstream.NextId();
        return await upstream.CallAsync(Messages.ToolCall(id, tool, arguments, progress), id, idempotent, observer, Ct);
    }

    [Fact]
    public async Task Server_everything_over_streamable_http_lists_echoes_and_reports_progress()
    {
        await using var node = await NodeServer.StartEverythingAsync("streamableHttp");
        var options = new HttpUpstreamOptions { Name = "everything-http", Url = new Uri($"http://127.0.0.1:{node.Port}/mcp") };
        var listener = new RecordingListener();
        await using var upstream = new StreamableHttpUpstream(options, listener, Logger);

        await upstream.StartAsync(Ct);

        Assert.Equal(UpstreamState.Ready, upstream.State);
        Assert.NotNull(upstream.SessionId);
        var id = upstream.NextId();
        var list = await upstream.CallAsync(Messages.Request(id, "tools/list"), id, idempotent: true, null, Ct);
        Assert.Contains("echo", Messages.ToolNames(list));

        var echo = await CallToolAsync(upstream, "echo", idempotent: false, """{"message":"over http"}""");
        Assert.Equal("Echo: over http", Messages.FirstText(echo));

        // The answer arrives on an SSE stream together with the progress notifications before it.
        var observer = new RecordingObserver();
        var progressId = upstream.NextId();
        var longRunning = await upstream.CallAsync(
            Messages.ToolCall(progressId, "trigger-long-running-operation", """{"duration":0.2,"steps":2}""", progress: true),
            progressId,
            idempotent: false,
            observer,
            Ct
        );
        Assert.StartsWith("Long running operation completed", Messages.FirstText(longRunning));
        var progress = observer.Messages.Where(m => m.MethodIs("notifications/progress"u8)).ToList();
        Assert.Equal(2, progress.Count);
        Assert.All(progress, m =>
            Assert.Equal(progressId.ToString(System.Globalization.CultureInfo.InvariantCulture), Messages.Text(m.Envelope.ProgressToken.Of(m.Span)))
        );

        // Logging that belongs to no request travels on the GET stream and reaches the listener.
        var toggle = await CallToolAsync(upstream, "toggle-simulated-logging", idempotent: false);
        Assert.StartsWith("Started simulated", Messages.FirstText(toggle));
        await Wait.UntilAsync(() => listener.Unsolicited.Any(m => m.MethodIs("notifications/message"u8)), "a logging notification on the GET stream");
    }

    [Fact]
    public async Task A_404_for_the_session_starts_a_new_session_once_and_retries_the_call()
    {
        await using var fake = await FakeMcpServer.StartAsync();
        fake.Handler = (_, request, context) =>
        {
            if (request.RpcMethod == "tools/list" && request.SessionId == "session-1")
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.FromResult(true);
            }

            return Task.FromResult(false);
        };
        var upstream = new StreamableHttpUpstream(new HttpUpstreamOptions { Name = "expiring", Url = fake.Url }, new RecordingListener(), Logger);
        await using (upstream)
        {
            await upstream.StartAsync(Ct);
            Assert.Equal("session-1", upstream.SessionId);

            var id = upstream.NextId();
            var list = await upstream.CallAsync(Messages.Request(id, "tools/list"), id, idempotent: false, null, Ct);

            Assert.True(list.IsSuccess, list.Detail);
            Assert.Equal(2, fake.Initializations);
            Assert.Equal("session-2", upstream.SessionId);
        }

        var seen = fake.Requests.ToList();
        var lists = seen.Where(r => r.RpcMethod == "tools/list").ToList();
        Assert.Equal(["session-1", "session-2"], lists.Select(r => r.SessionId));
        Assert.All(lists, r => Assert.Equal("2025-11-25", r.ProtocolVersion));
        Assert.All(seen.Where(r => r.RpcMethod == "initialize"), r => Assert.Null(r.SessionId));
        Assert.Equal(["session-1", "session-2"], seen.Where(r => r.RpcMethod == "notifications/initialized").Select(r => r.SessionId));
        var delete = Assert.Single(seen, r => r.Method == "DELETE");
        Assert.Equal("session-2", delete.SessionId);
    }

    [Fact]
    public async Task Only_idempotent_calls_are_retried_after_a_503()
    {
        await using var fake = await FakeMcpServer.StartAsync();
        var attempts = new ConcurrentDictionary<string, int>();
        fake.Handler = async (_, request, context) =>
        {
            if (request.RpcMethod != "tools/call" || attempts.AddOrUpdate(request.RpcId!, 1, (_, n) => n + 1) > 1)
            {
                return false;
            }

            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync("upstream overloaded, try later");
            return true;
        };
        var options = new HttpUpstreamOptions
        {
            Name = "flaky",
            Url = fake.Url,
            MaxRetries = 2,
            RetryDelay = TimeSpan.FromMilliseconds(10),
        };
        await using var upstream = new StreamableHttpUpstream(options, new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);

        var safe = upstream.NextId();
        var safeResult = await upstream.CallAsync(Messages.ToolCall(safe, "read"), safe, idempotent: true, null, Ct);
        var unsafeId = upstream.NextId();
        var unsafeResult = await upstream.CallAsync(Messages.ToolCall(unsafeId, "write"), unsafeId, idempotent: false, null, Ct);

        Assert.True(safeResult.IsSuccess, safeResult.Detail);
        Assert.Equal(2, attempts[safe.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.Equal(UpstreamError.Protocol, unsafeResult.Error);
        Assert.Equal(1, attempts[unsafeId.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.Contains($"MCP server 'flaky' at {fake.Url} answered HTTP 503", unsafeResult.Detail);
        Assert.Contains("upstream overloaded, try later", unsafeResult.Detail);
    }

    [Fact]
    public async Task The_circuit_opens_after_repeated_failures_and_then_calls_fail_without_reaching_the_server()
    {
        await using var fake = await FakeMcpServer.StartAsync();
        fake.Handler = (_, request, context) =>
        {
            if (request.RpcMethod != "tools/call")
            {
                return Task.FromResult(false);
            }

            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.FromResult(true);
        };
        var options = new HttpUpstreamOptions
        {
            Name = "broken",
            Url = fake.Url,
            MaxRetries = 0,
            BreakerMinimumThroughput = 2,
            BreakerFailureRatio = 0.5,
            BreakerSamplingDuration = TimeSpan.FromSeconds(30),
            BreakerBreakDuration = TimeSpan.FromSeconds(30),
        };
        await using var upstream = new StreamableHttpUpstream(options, new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);

        var results = new List<UpstreamCallResult>();
        for (var i = 0; i < 10 && (results.Count == 0 || results[^1].Error != UpstreamError.Unavailable); i++)
        {
            results.Add(await CallToolAsync(upstream, "anything", idempotent: false));
        }

        var open = results[^1];
        Assert.Equal(UpstreamError.Unavailable, open.Error);
        Assert.Contains("circuit open", open.Detail);
        Assert.All(results[..^1], r => Assert.Contains("HTTP 503", r.Detail));
        int Hits() => fake.Requests.Count(r => r.RpcMethod == "tools/call");
        Assert.Equal(results.Count - 1, Hits());

        var again = await CallToolAsync(upstream, "anything", idempotent: true);
        Assert.Contains("circuit open", again.Detail);
        Assert.Equal(results.Count - 1, Hits());
    }

    [Fact]
    public async Task An_unreachable_server_is_down_with_a_reason_and_calls_fail_fast()
    {
        var url = new Uri($"http://127.0.0.1:{NodeServer.FreePort()}/mcp");
        await using var upstream = new StreamableHttpUpstream(new HttpUpstreamOptions { Name = "nowhere", Url = url }, new RecordingListener(), Logger);

        await upstream.StartAsync(Ct);

        Assert.Equal(UpstreamState.Down, upstream.State);
        Assert.Contains($"MCP server 'nowhere' at {url} could not be reached", upstream.StateDetail);
        var call = await CallToolAsync(upstream, "echo", idempotent: true);
        Assert.Equal(UpstreamError.Unavailable, call.Error);
    }
}
