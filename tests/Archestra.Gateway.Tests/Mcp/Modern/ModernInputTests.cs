using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// Input a server needs during a call, across eras (2026-07-28 basic/patterns/mrtr): a 2025 server's elicitation and
/// sampling requests reach a 2026-07-28 client (the v2 TypeScript SDK) as <c>input_required</c> and its retry continues the
/// same call; a modern-only server's <c>input_required</c> reaches a 2025 client (the v1 TypeScript SDK) as requests on the
/// call's stream. Same profile as <see cref="ModernUpstreamTests"/>: server-everything over stdio and a modern-only server.
/// </summary>
public sealed class ModernInputTests : IClassFixture<ModernUpstreamFixture>
{
    private static readonly HttpClient Http = new();
    private readonly ModernUpstreamFixture _fixture;

    public ModernInputTests(ModernUpstreamFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<JsonElement> RunClientAsync(Uri url, string era, string tool, string arguments, string action = "accept")
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-input.mjs"), url.ToString(), era, tool, arguments, action],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);
        return JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
    }

    /// <summary>server-everything registers its eliciting and sampling tools once initialized (then says list_changed): wait for them.</summary>
    private static async Task WaitForToolAsync(Uri url, string tool)
    {
        for (var attempt = 0; ; attempt++)
        {
            var (_, listed) = await ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(1, "tools/list"), "tools/list"));
            if (listed.GetProperty("result").GetProperty("tools").EnumerateArray().Any(t => t.GetProperty("name").GetString() == tool))
            {
                return;
            }

            Assert.True(attempt < 200, $"{tool} was never listed");
            await Task.Delay(50, Ct);
        }
    }

    private static string[] Asked(JsonElement run) => [.. run.GetProperty("asked").EnumerateArray().Select(a => a.GetProperty("method").GetString()!)];

    [Theory]
    [InlineData("local__trigger-elicitation-request", "{}", "elicitation/create", "Name: Ada Lovelace")]
    [InlineData(
        "local__trigger-sampling-request",
        "{\"prompt\":\"mrtr\",\"maxTokens\":5}",
        "sampling/createMessage",
        "sampled<Resource trigger-sampling-request context: mrtr>"
    )]
    public async Task A_2025_servers_request_during_a_modern_call_becomes_input_required_and_the_retry_continues_the_same_call(
        string tool,
        string arguments,
        string method,
        string expected
    )
    {
        await WaitForToolAsync(_fixture.Gateway.McpUrl("both"), tool);
        var run = await RunClientAsync(_fixture.Gateway.McpUrl("both"), "modern", tool, arguments);
        Assert.False(run.TryGetProperty("error", out var error), error.ToString());
        Assert.True(Asked(run).SequenceEqual([method]), run.ToString());
        Assert.False(run.GetProperty("isError").GetBoolean(), run.GetProperty("text").GetString());
        Assert.Contains(expected, run.GetProperty("text").GetString(), StringComparison.Ordinal);

        // Two requests on the wire: the call, then its retry with the answer and the gateway's state.
        var calls = run.GetProperty("calls").EnumerateArray().ToArray();
        Assert.Equal(2, calls.Length);
        Assert.Equal(JsonValueKind.Null, calls[0].GetProperty("requestState").ValueKind);
        Assert.False(string.IsNullOrEmpty(calls[1].GetProperty("requestState").GetString()));
        Assert.Single(calls[1].GetProperty("inputResponses").EnumerateArray());
    }

    [Theory]
    [InlineData("accept", "planned trip for Ada Lovelace: sampled<idea for trip> in file:///srv/archestra-root", 3)]
    [InlineData("decline", "not planned: decline", 1)]
    public async Task A_modern_servers_input_required_reaches_a_2025_client_as_requests_on_the_calls_stream_and_the_answers_go_back_as_the_retry(
        string action,
        string expected,
        int questions
    )
    {
        var run = await RunClientAsync(_fixture.Gateway.McpUrl("modern-only"), "2025", "plan", "{\"topic\":\"trip\"}", action);
        Assert.False(run.TryGetProperty("error", out var error), error.ToString());
        Assert.Equal(expected, run.GetProperty("text").GetString());
        var asked = Asked(run);
        Assert.Equal(questions, asked.Length);
        Assert.Equal("elicitation/create", asked[0]);
        Assert.Equal("Plan trip?", run.GetProperty("asked")[0].GetProperty("message").GetString());
        if (questions == 3)
        {
            Assert.Equal(["roots/list", "sampling/createMessage"], asked[1..].Order(StringComparer.Ordinal));
        }

        // The 2025 client made one call; the gateway made the rounds.
        Assert.Single(run.GetProperty("calls").EnumerateArray());
    }

    private const string InputCapable =
        "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}";

    private static Task<(int Status, JsonElement Message)> ElicitingCallAsync(
        Uri url,
        int id,
        string arguments,
        string retry = "",
        string tool = "local__trigger-elicitation-request"
    ) =>
        ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(url, ModernRaw.Body(id, "tools/call", $"\"name\":\"{tool}\",\"arguments\":{arguments}{retry}", InputCapable), "tools/call", tool)
        );

    private static string Retry(string key, string state) =>
        $",\"requestState\":\"{state}\",\"inputResponses\":{{\"{key}\":{{\"action\":\"accept\",\"content\":{{\"name\":\"Grace Hopper\"}}}}}}";

    [Fact]
    public async Task A_tampered_or_moved_request_state_is_refused_and_the_untouched_one_finishes_the_call_with_one_audit_row()
    {
        var url = _fixture.Gateway.McpUrl("both");
        var marker = Guid.NewGuid().ToString("N");
        var arguments = $"{{\"marker\":\"{marker}\"}}";
        await WaitForToolAsync(url, "local__trigger-elicitation-request");
        var (status, first) = await ElicitingCallAsync(url, 1, arguments);
        Assert.Equal(200, status);
        var result = first.GetProperty("result");
        Assert.Equal("input_required", result.GetProperty("resultType").GetString());
        var request = Assert.Single(result.GetProperty("inputRequests").EnumerateObject());
        Assert.Equal("elicitation/create", request.Value.GetProperty("method").GetString());
        Assert.Equal("Please provide inputs for the following fields:", request.Value.GetProperty("params").GetProperty("message").GetString());
        var state = result.GetProperty("requestState").GetString()!;

        // One character changed, at the end (the MAC) and at the start (the format): refused, never forwarded.
        foreach (var tampered in new[] { state[..^1] + (state[^1] == 'A' ? 'B' : 'A'), (state[0] == 'o' ? 'p' : 'o') + state[1..] })
        {
            var refused = await ElicitingCallAsync(url, 2, arguments, Retry(request.Name, tampered));
            Assert.Equal(-32602, RawMcp.ErrorCode(refused.Message));
            Assert.Contains("requestState", RawMcp.ErrorMessage(refused.Message), StringComparison.Ordinal);
        }

        // The state moved to other arguments.
        var moved = await ElicitingCallAsync(url, 3, "{\"marker\":\"other\"}", Retry(request.Name, state));
        Assert.Equal(-32602, RawMcp.ErrorCode(moved.Message));

        // The untouched state with the same call: the answer reaches the waiting server, and the call's result comes back.
        var (_, done) = await ElicitingCallAsync(url, 4, arguments, Retry(request.Name, state));
        Assert.Equal(4, done.GetProperty("id").GetInt32());
        var final = done.GetProperty("result");
        Assert.Equal("complete", final.GetProperty("resultType").GetString());
        Assert.Contains("Name: Grace Hopper", string.Join("\n", final.GetProperty("content").EnumerateArray().Select(c => c.GetProperty("text").GetString())));

        // The call has ended: the same state again is refused with the reason.
        var again = await ElicitingCallAsync(url, 5, arguments, Retry(request.Name, state));
        Assert.Contains("already ended", RawMcp.ErrorMessage(again.Message), StringComparison.Ordinal);

        // One audit row for the whole call, shaped like a 2025 call's.
        var store = _fixture.Gateway.Server.Store;
        for (var attempt = 0; ; attempt++)
        {
            var page = await store.ListToolCallsAsync(new Archestra.Storage.ToolCallQuery { Profile = "both", Limit = 1000 }, Ct);
            var rows = page.Items.Where(r => r.Arguments?.Contains(marker, StringComparison.Ordinal) == true).ToList();
            if (rows.Count > 0)
            {
                var row = Assert.Single(rows);
                Assert.Equal(("local", "trigger-elicitation-request", "allow", "ok"), (row.Server, row.Tool, row.Decision, row.Outcome));
                Assert.Null(row.SessionId);
                break;
            }

            Assert.True(attempt < 200, "the audit row never arrived");
            await Task.Delay(50, Ct);
        }
    }

    // A one-server profile: tool names are not prefixed.
    private const string Unprefixed = "trigger-elicitation-request";

    [Fact]
    public async Task A_retry_reaching_another_gateway_process_is_refused_with_the_reason_whether_or_not_it_shares_the_key()
    {
        var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        GatewayConfig Config(byte[]? sessionKey) =>
            new()
            {
                McpServers = [GatewayHarness.Stdio("local", Repo.Node, Repo.Everything, "stdio")],
                Profiles = [GatewayHarness.Profile("p", "local")],
                Security = new SecurityConfig { SessionKey = sessionKey },
            };
        await using var first = await GatewayHarness.StartAsync(Config(key));
        await using var second = await GatewayHarness.StartAsync(Config(key));
        await using var stranger = await GatewayHarness.StartAsync(Config(null));

        await WaitForToolAsync(first.McpUrl("p"), Unprefixed);
        var (_, answer) = await ElicitingCallAsync(first.McpUrl("p"), 1, "{}", tool: Unprefixed);
        Assert.True(answer.TryGetProperty("result", out var asked), answer.ToString());
        Assert.True(asked.TryGetProperty("requestState", out _), answer.ToString());
        var state = asked.GetProperty("requestState").GetString()!;
        var key1 = asked.GetProperty("inputRequests").EnumerateObject().Single().Name;

        var elsewhere = await ElicitingCallAsync(second.McpUrl("p"), 2, "{}", Retry(key1, state), Unprefixed);
        Assert.Equal(-32602, RawMcp.ErrorCode(elsewhere.Message));
        Assert.Contains("another Archestra gateway process", RawMcp.ErrorMessage(elsewhere.Message), StringComparison.Ordinal);

        var foreign = await ElicitingCallAsync(stranger.McpUrl("p"), 3, "{}", Retry(key1, state), Unprefixed);
        Assert.Contains("security.sessionKey", RawMcp.ErrorMessage(foreign.Message), StringComparison.Ordinal);

        // The process that holds the call still finishes it.
        var done = await ElicitingCallAsync(first.McpUrl("p"), 4, "{}", Retry(key1, state), Unprefixed);
        Assert.Equal("complete", done.Message.GetProperty("result").GetProperty("resultType").GetString());
    }

    [Fact]
    public async Task A_held_call_nobody_retries_is_cancelled_when_its_state_expires_and_recorded_as_cancelled()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Stdio("local", Repo.Node, Repo.Everything, "stdio")],
                Profiles = [GatewayHarness.Profile("p", "local")],
                Limits = new LimitsConfig { ApprovalTimeout = TimeSpan.FromSeconds(1) },
            }
        );
        var url = gateway.McpUrl("p");
        var marker = Guid.NewGuid().ToString("N");
        var arguments = $"{{\"marker\":\"{marker}\"}}";
        await WaitForToolAsync(url, Unprefixed);
        var (_, asked) = await ElicitingCallAsync(url, 1, arguments, tool: Unprefixed);
        var result = asked.GetProperty("result");
        var state = result.GetProperty("requestState").GetString()!;
        var key = result.GetProperty("inputRequests").EnumerateObject().Single().Name;

        // Nobody retries: the call is cancelled and leaves one row, like a 2025 call whose client went away.
        var store = gateway.Server.Store;
        for (var attempt = 0; ; attempt++)
        {
            var page = await store.ListToolCallsAsync(new Archestra.Storage.ToolCallQuery { Profile = "p", Limit = 1000 }, Ct);
            if (page.Items.FirstOrDefault(r => r.Arguments?.Contains(marker, StringComparison.Ordinal) == true) is { } row)
            {
                Assert.Equal(("local", "trigger-elicitation-request", "allow", "cancelled"), (row.Server, row.Tool, row.Decision, row.Outcome));
                Assert.Contains("limits.approvalTimeoutSeconds", row.Error, StringComparison.Ordinal);
                break;
            }

            Assert.True(attempt < 200, "the audit row never arrived");
            await Task.Delay(50, Ct);
        }

        // A late retry is refused, never forwarded as a new call.
        var late = await ElicitingCallAsync(url, 2, arguments, Retry(key, state), Unprefixed);
        Assert.Equal(-32602, RawMcp.ErrorCode(late.Message));
    }

    [Fact]
    public async Task A_modern_client_that_did_not_declare_elicitation_is_never_asked_and_the_server_hears_why()
    {
        var url = _fixture.Gateway.McpUrl("both");
        await WaitForToolAsync(url, "local__trigger-elicitation-request");
        var (status, message) = await ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(
                url,
                ModernRaw.Body(1, "tools/call", "\"name\":\"local__trigger-elicitation-request\",\"arguments\":{}"),
                "tools/call",
                "local__trigger-elicitation-request"
            )
        );
        Assert.Equal(200, status);
        var result = message.GetProperty("result");
        Assert.Equal("complete", result.GetProperty("resultType").GetString());
        Assert.False(result.TryGetProperty("requestState", out _));
        Assert.Contains("did not declare this capability", result.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }
}
