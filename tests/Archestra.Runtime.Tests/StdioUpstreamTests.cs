using System.Diagnostics;
using System.Text.Json;
using Archestra.Runtime.Stdio;
using Archestra.Runtime.Tests.Support;
using Archestra.Runtime.Upstreams;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Tests;

public class StdioUpstreamTests
{
    private static readonly ILogger Logger = TestLoggerFactory.Instance.CreateLogger("StdioUpstream");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StdioUpstreamOptions Everything() =>
        new()
        {
            Name = "everything",
            Command = "node",
            Args = [Paths.ServerEverything, "stdio"],
        };

    private static StdioUpstreamOptions TestServer() =>
        new()
        {
            Name = "test-server",
            Command = "node",
            Args = [Paths.StdioTestServer],
            InitialRestartDelay = TimeSpan.FromMilliseconds(50),
        };

    private static async Task<UpstreamCallResult> CallToolAsync(
        McpUpstream upstream,
        string tool,
        string arguments = "{}",
        IUpstreamCallObserver? observer = null,
        bool progress = false
    )
    {
        var id = upstream.NextId();
        return await upstream.CallAsync(Messages.ToolCall(id, tool, arguments, progress), id, idempotent: false, observer, Ct);
    }

    private static bool ProcessExists(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Server_everything_handshakes_lists_its_tools_and_echoes()
    {
        var listener = new RecordingListener();
        var upstream = new StdioUpstream(Everything(), listener, Logger);
        int pid;
        await using (upstream)
        {
            await upstream.StartAsync(Ct);
            Assert.Equal(UpstreamState.Ready, upstream.State);
            Assert.Contains((UpstreamState.Ready, (string?)null), listener.States);
            Assert.NotNull(upstream.ProtocolVersion);
            Assert.Contains("serverInfo", Messages.Text(upstream.InitializeResult));

            var id = upstream.NextId();
            var list = await upstream.CallAsync(Messages.Request(id, "tools/list"), id, idempotent: true, null, Ct);
            var names = Messages.ToolNames(list);
            Assert.Contains("echo", names);
            Assert.Contains("trigger-long-running-operation", names);

            var echo = await CallToolAsync(upstream, "echo", """{"message":"hello from the gateway"}""");
            Assert.Equal("Echo: hello from the gateway", Messages.FirstText(echo));
            Assert.Equal(0, upstream.InFlight);
            pid = upstream.ProcessId!.Value;
        }

        Assert.Equal(UpstreamState.Stopped, upstream.State);
        await Wait.UntilAsync(() => !ProcessExists(pid), "the server process to be gone after dispose");
    }

    [Fact]
    public async Task Concurrent_calls_share_one_process_and_each_gets_its_own_answer()
    {
        await using var upstream = new StdioUpstream(Everything(), new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);

        var calls = new Task<UpstreamCallResult>[64];
        for (var i = 0; i < calls.Length; i++)
        {
            calls[i] = CallToolAsync(upstream, "echo", $$"""{"message":"call {{i}}"}""");
        }

        var results = await Task.WhenAll(calls);

        for (var i = 0; i < results.Length; i++)
        {
            Assert.Equal($"Echo: call {i}", Messages.FirstText(results[i]));
        }

        Assert.Equal(0, upstream.Restarts);
    }

    [Fact]
    public async Task Progress_notifications_reach_the_observer_with_the_request_id_as_token()
    {
        await using var upstream = new StdioUpstream(Everything(), new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);
        var observer = new RecordingObserver();
        var id = upstream.NextId();
        var request = Messages.ToolCall(id, "trigger-long-running-operation", """{"duration":0.3,"steps":3}""", progress: true);

        var result = await upstream.CallAsync(request, id, idempotent: false, observer, Ct);

        Assert.StartsWith("Long running operation completed", Messages.FirstText(result));
        var progress = observer.Messages.Where(m => m.MethodIs("notifications/progress"u8)).ToList();
        Assert.Equal(3, progress.Count);
        Assert.All(progress, m =>
            Assert.Equal(id.ToString(System.Globalization.CultureInfo.InvariantCulture), Messages.Text(m.Envelope.ProgressToken.Of(m.Span)))
        );
    }

    [Fact]
    public async Task The_child_sees_only_its_configured_env_plus_PATH_and_HOME()
    {
        Environment.SetEnvironmentVariable("ARCHESTRA_TEST_GATEWAY_SECRET", "must-not-leak");
        var options = TestServer() with { Env = new Dictionary<string, string> { ["ARCHESTRA_TEST_CONFIGURED"] = "configured-value" } };
        await using var upstream = new StdioUpstream(options, new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);

        var result = await CallToolAsync(upstream, "env");

        using var env = JsonDocument.Parse(Messages.FirstText(result));
        var names = env.RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.DoesNotContain("ARCHESTRA_TEST_GATEWAY_SECRET", names);
        Assert.Equal("configured-value", env.RootElement.GetProperty("ARCHESTRA_TEST_CONFIGURED").GetString());
        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), env.RootElement.GetProperty("PATH").GetString());
        Assert.Subset(new HashSet<string> { "PATH", "HOME", "ARCHESTRA_TEST_CONFIGURED" }, names);
        // The banner line on stdout was skipped, and stderr is kept.
        Assert.Contains("stdio-test-server: stderr is for logs", upstream.RecentStderr);
    }

    [Fact]
    public async Task Control_characters_and_invalid_UTF8_on_a_servers_stdout_and_stderr_reach_the_log_escaped()
    {
        // bash's printf writes the bytes a broken or hostile server would: ESC sequences, CR, NUL, BEL, an invalid UTF-8 byte.
        const string script = """
            printf 'banner \033[2J\033[31mred\rINFO forged\000nul\377end\n'
            printf 'err \033]0;title\007 nul\000 bell\n' >&2
            exec node "$0"
            """;
        var log = new CapturingLogger();
        var options = TestServer() with { Command = "bash", Args = ["-c", script, Paths.StdioTestServer] };
        await using var upstream = new StdioUpstream(options, new RecordingListener(), log);
        await upstream.StartAsync(Ct);
        await Wait.UntilAsync(() => log.Messages.Any(m => m.Contains("stderr: err", StringComparison.Ordinal)), "the stderr line to be logged");

        var stdout = Assert.Single(log.Messages, m => m.Contains("banner", StringComparison.Ordinal));
        Assert.EndsWith(@"skipped: banner \x1B[2J\x1B[31mred\rINFO forged\x00nul\xFFend", stdout, StringComparison.Ordinal);
        var stderr = Assert.Single(log.Messages, m => m.Contains("stderr: err", StringComparison.Ordinal));
        Assert.EndsWith(@"stderr: err \x1B]0;title\x07 nul\x00 bell", stderr, StringComparison.Ordinal);
        Assert.All(log.Messages.Concat(log.Values), m => Assert.False(m.Any(char.IsControl), m));
        Assert.Contains(log.Values, v => v.StartsWith(@"banner \x1B[2J", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_crash_during_a_call_fails_it_with_the_exit_code_and_the_server_restarts()
    {
        var listener = new RecordingListener();
        await using var upstream = new StdioUpstream(TestServer(), listener, Logger);
        var restarted = 0;
        upstream.Restarted += _ => Interlocked.Increment(ref restarted);
        await upstream.StartAsync(Ct);
        var firstPid = upstream.ProcessId!.Value;

        var crash = await CallToolAsync(upstream, "crash");

        Assert.Equal(UpstreamError.Disconnected, crash.Error);
        Assert.Contains("MCP server 'test-server' exited with code 3 during the call", crash.Detail);
        Assert.Contains("crashing on purpose", crash.Detail);
        await Wait.UntilAsync(() => upstream.State == UpstreamState.Ready && upstream.Restarts == 1, "the server to restart");
        Assert.Equal(1, Volatile.Read(ref restarted));
        Assert.NotEqual(firstPid, upstream.ProcessId);
        Assert.Contains(listener.States, s => s.State == UpstreamState.Down && s.Detail!.Contains("exited with code 3", StringComparison.Ordinal));

        var echo = await CallToolAsync(upstream, "echo", """{"message":"after the restart"}""");
        Assert.Equal("after the restart", Messages.FirstText(echo));
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_and_is_told_the_call_was_cancelled()
    {
        var options = TestServer() with { Timeout = TimeSpan.FromMilliseconds(500) };
        await using var upstream = new StdioUpstream(options, new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);
        var id = upstream.NextId();

        var hang = await upstream.CallAsync(Messages.ToolCall(id, "hang"), id, idempotent: false, null, Ct);

        Assert.Equal(UpstreamError.Timeout, hang.Error);
        Assert.Contains("MCP server 'test-server' did not answer", hang.Detail);
        var cancelled = await CallToolAsync(upstream, "cancelled");
        Assert.Equal($"[{id}]", Messages.FirstText(cancelled));
        Assert.Equal(UpstreamState.Ready, upstream.State);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_answer_line_over_the_limit_fails_its_call_with_the_limit_and_the_next_call_is_served(bool idFirst)
    {
        var options = TestServer() with { MaxLineBytes = 1024 * 1024 };
        await using var upstream = new StdioUpstream(options, new RecordingListener(), Logger);
        await upstream.StartAsync(Ct);
        var id = upstream.NextId();
        var other = upstream.NextId();

        // Another call in flight: the refusal must find the right one by its id.
        var hanging = upstream.CallAsync(Messages.ToolCall(other, "hang"), other, idempotent: false, null, Ct).AsTask();
        var huge = await upstream.CallAsync(
            Messages.ToolCall(id, "huge", $$"""{"bytes":{{2 * 1024 * 1024}},"idFirst":{{(idFirst ? "true" : "false")}}}"""),
            id,
            idempotent: false,
            null,
            Ct
        );

        Assert.Equal(UpstreamError.Protocol, huge.Error);
        Assert.Equal("MCP server 'test-server' answered with a message larger than the limit of 1048576 bytes; it was discarded", huge.Detail);
        Assert.False(hanging.IsCompleted);
        var echo = await CallToolAsync(upstream, "echo", """{"message":"next"}""");
        Assert.Equal("next", Messages.FirstText(echo));
    }

    [Fact]
    public async Task A_command_that_cannot_start_leaves_the_upstream_down_and_keeps_retrying()
    {
        var options = new StdioUpstreamOptions
        {
            Name = "missing",
            Command = "/nonexistent/mcp-server",
            InitialRestartDelay = TimeSpan.FromMilliseconds(20),
        };
        var listener = new RecordingListener();
        await using var upstream = new StdioUpstream(options, listener, Logger);

        await upstream.StartAsync(Ct);

        Assert.Equal(UpstreamState.Down, upstream.State);
        Assert.Contains("MCP server 'missing' could not be started", upstream.StateDetail);
        var id = upstream.NextId();
        var call = await upstream.CallAsync(Messages.ToolCall(id, "echo"), id, idempotent: false, null, Ct);
        Assert.Equal(UpstreamError.Unavailable, call.Error);
        Assert.Contains("could not be started", call.Detail);
        await Wait.UntilAsync(() => upstream.Restarts >= 2, "further start attempts");
    }
}
