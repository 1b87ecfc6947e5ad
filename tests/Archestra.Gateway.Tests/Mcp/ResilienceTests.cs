using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

public sealed class FlakyFixture : IAsyncLifetime
{
    public const string Secret = "ARCHESTRA_TEST_GATEWAY_SECRET";

    internal GatewayHarness Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        // A variable of the gateway's own environment that must never reach an MCP server process.
        Environment.SetEnvironmentVariable(Secret, "do-not-leak");
        var flaky = GatewayHarness.Stdio("flaky", Repo.Node, Repo.Asset("flaky-server.mjs")) with
        {
            Env = new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules, ["CONFIGURED_VAR"] = "visible" },
            // Long enough that a cancellation test on a loaded CI machine cancels before the timeout fires.
            Timeout = TimeSpan.FromSeconds(5),
        };
        var config = new GatewayConfig
        {
            McpServers =
            [
                flaky,
                GatewayHarness.Stdio("broken", "/nonexistent/mcp-server-binary"),
                GatewayHarness.Http("unreachable", $"http://127.0.0.1:{Repo.FreePort()}/mcp") with
                {
                    Timeout = TimeSpan.FromSeconds(2),
                },
            ],
            Profiles = [GatewayHarness.Profile("flaky", "flaky"), GatewayHarness.Profile("degraded", "flaky", "broken", "unreachable")],
        };
        Gateway = await GatewayHarness.StartAsync(config);
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }
    }
}

/// <summary>Upstreams that crash, hang or never start must not break the gateway or the other servers.</summary>
public sealed class ResilienceTests : IClassFixture<FlakyFixture>
{
    private static readonly HttpClient Http = new();
    private readonly FlakyFixture _fixture;

    public ResilienceTests(FlakyFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<System.Text.Json.JsonElement> CallAsync(string profile, string tool, string args = "{}", int id = 1)
    {
        using var response = await Http.SendAsync(
            RawMcp.Post(_fixture.Gateway.McpUrl(profile), RawMcp.Call(id, tool, args)),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await RawMcp.ReadMessageAsync(response);
    }

    private async Task<System.Text.Json.JsonElement> CallUntilSuccessAsync(string profile, string tool, string args)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var message = await CallAsync(profile, tool, args);
            if (message.TryGetProperty("result", out _) || DateTime.UtcNow > deadline)
            {
                return message;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_crash_mid_call_fails_that_call_then_the_server_restarts()
    {
        var before = await CallUntilSuccessAsync("flaky", "echo", """{"message":"a"}""");
        var firstPid = before.GetProperty("result").GetRawText();

        var crashed = await CallAsync("flaky", "crash");
        Assert.Equal(-32010, RawMcp.ErrorCode(crashed));
        var message = RawMcp.ErrorMessage(crashed);
        Assert.Contains("'flaky'", message, StringComparison.Ordinal);
        Assert.Contains("exit", message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("flaky", crashed.GetProperty("error").GetProperty("data").GetProperty("server").GetString());

        var after = await CallUntilSuccessAsync("flaky", "echo", """{"message":"b"}""");
        var text = after.GetProperty("result").GetRawText();
        Assert.Contains("flaky:b", text, StringComparison.Ordinal);
        Assert.NotEqual(firstPid, text);
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_with_an_error_naming_it()
    {
        await CallUntilSuccessAsync("flaky", "echo", """{"message":"warm"}""");
        var hung = await CallAsync("flaky", "hang");
        Assert.Equal(-32011, RawMcp.ErrorCode(hung));
        Assert.Contains("'flaky' did not answer within 5 s", RawMcp.ErrorMessage(hung), StringComparison.Ordinal);

        var next = await CallAsync("flaky", "echo", """{"message":"still-fine"}""", id: 2);
        Assert.Contains("still-fine", next.GetProperty("result").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stdio_server_sees_only_its_configured_environment()
    {
        var secret = await CallUntilSuccessAsync("flaky", "env", $$"""{"name":"{{FlakyFixture.Secret}}"}""");
        Assert.Contains("<unset>", secret.GetProperty("result").GetRawText(), StringComparison.Ordinal);

        var configured = await CallAsync("flaky", "env", """{"name":"CONFIGURED_VAR"}""");
        Assert.Contains("visible", configured.GetProperty("result").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Servers_that_are_down_are_left_out_of_lists_and_calls_to_them_name_the_cause()
    {
        await CallUntilSuccessAsync("degraded", "flaky__echo", """{"message":"x"}""");
        using var list = await Http.SendAsync(
            RawMcp.Post(_fixture.Gateway.McpUrl("degraded"), """{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""),
            TestContext.Current.CancellationToken
        );
        var tools = (await RawMcp.ReadMessageAsync(list)).GetProperty("result").GetProperty("tools");
        var names = tools.EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.Contains("flaky__echo", names);
        Assert.DoesNotContain(names, n => n!.StartsWith("broken__", StringComparison.Ordinal) || n.StartsWith("unreachable__", StringComparison.Ordinal));

        var broken = await CallAsync("degraded", "broken__anything");
        Assert.Equal(-32010, RawMcp.ErrorCode(broken));
        Assert.Contains("'broken'", RawMcp.ErrorMessage(broken), StringComparison.Ordinal);

        var unreachable = await CallAsync("degraded", "unreachable__anything");
        Assert.Equal(-32010, RawMcp.ErrorCode(unreachable));
        Assert.Contains("'unreachable'", RawMcp.ErrorMessage(unreachable), StringComparison.Ordinal);
    }
}
