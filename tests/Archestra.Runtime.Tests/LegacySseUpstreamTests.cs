using Archestra.Runtime.Http;
using Archestra.Runtime.Stdio;
using Archestra.Runtime.Tests.Support;
using Archestra.Runtime.Upstreams;

namespace Archestra.Runtime.Tests;

public class LegacySseUpstreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Server_everything_over_http_sse_lists_and_echoes()
    {
        await using var node = await NodeServer.StartEverythingAsync("sse");
        var options = new HttpUpstreamOptions
        {
            Name = "everything-sse",
            Url = new Uri($"http://127.0.0.1:{node.Port}/sse"),
            Transport = HttpUpstreamTransport.Sse,
        };
        await using var upstream = UpstreamFactory.Create(options, new RecordingListener(), TestLoggerFactory.Instance);
        var sse = Assert.IsType<LegacySseUpstream>(upstream);

        await upstream.StartAsync(Ct);

        Assert.Equal(UpstreamState.Ready, upstream.State);
        Assert.Equal("/message", sse.Endpoint!.AbsolutePath);
        var id = upstream.NextId();
        var list = await upstream.CallAsync(Messages.Request(id, "tools/list"), id, idempotent: true, null, Ct);
        Assert.Contains("echo", Messages.ToolNames(list));
        var echoId = upstream.NextId();
        var echo = await upstream.CallAsync(Messages.ToolCall(echoId, "echo", """{"message":"over sse"}"""), echoId, idempotent: false, null, Ct);
        Assert.Equal("Echo: over sse", Messages.FirstText(echo));
    }

    [Fact]
    public async Task Losing_the_event_stream_fails_the_call_in_flight_and_the_upstream_reconnects()
    {
        var node = await NodeServer.StartEverythingAsync("sse");
        var port = node.Port;
        var options = new HttpUpstreamOptions
        {
            Name = "everything-sse",
            Url = new Uri($"http://127.0.0.1:{port}/sse"),
            Transport = HttpUpstreamTransport.Sse,
            RetryDelay = TimeSpan.FromMilliseconds(50),
        };
        var listener = new RecordingListener();
        await using var upstream = new LegacySseUpstream(options, listener, TestLoggerFactory.Instance.CreateLogger("LegacySseUpstream"));
        try
        {
            await upstream.StartAsync(Ct);
            Assert.Equal(UpstreamState.Ready, upstream.State);
            var id = upstream.NextId();
            var observer = new RecordingObserver();
            var call = upstream
                .CallAsync(
                    Messages.ToolCall(id, "trigger-long-running-operation", """{"duration":30,"steps":300}""", progress: true),
                    id,
                    idempotent: false,
                    observer,
                    Ct
                )
                .AsTask();
            await Wait.UntilAsync(() => !observer.Messages.IsEmpty, "the call to be running");

            await node.DisposeAsync();
            var lost = await call;

            Assert.Equal(UpstreamError.Disconnected, lost.Error);
            Assert.Contains("MCP server 'everything-sse'", lost.Detail);
            Assert.Contains("lost its event stream during the call", lost.Detail);
            await Wait.UntilAsync(() => upstream.State == UpstreamState.Down, "the upstream to go down");

            node = await NodeServer.StartEverythingAsync("sse", port);
            await Wait.UntilAsync(() => upstream.State == UpstreamState.Ready, "the upstream to reconnect");
            var echoId = upstream.NextId();
            var echo = await upstream.CallAsync(Messages.ToolCall(echoId, "echo", """{"message":"reconnected"}"""), echoId, idempotent: false, null, Ct);
            Assert.Equal("Echo: reconnected", Messages.FirstText(echo));
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_factory_picks_the_transport_from_the_options()
    {
        var listener = new RecordingListener();
        var url = new Uri("http://127.0.0.1:1/mcp");
        await using var stdio = UpstreamFactory.Create(new StdioUpstreamOptions { Name = "a", Command = "node" }, listener, TestLoggerFactory.Instance);
        await using var http = UpstreamFactory.Create(new HttpUpstreamOptions { Name = "b", Url = url }, listener, TestLoggerFactory.Instance);
        await using var sse = UpstreamFactory.Create(
            new HttpUpstreamOptions
            {
                Name = "c",
                Url = url,
                Transport = HttpUpstreamTransport.Sse,
            },
            listener,
            TestLoggerFactory.Instance
        );

        Assert.IsType<StdioUpstream>(stdio);
        Assert.IsType<StreamableHttpUpstream>(http);
        Assert.IsType<LegacySseUpstream>(sse);
        Assert.All([stdio, http, sse], u => Assert.Equal(UpstreamState.Starting, u.State));
    }
}
