using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Policy;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// <c>require_approval</c> for MCP 2026-07-28 clients as a multi-round-trip request: <c>input_required</c> with an
/// elicitation, a retry carrying the answer, and a <c>requestState</c> that cannot be altered or moved to another call.
/// </summary>
public sealed class ModernApprovalTests : IClassFixture<PolicyFixture>
{
    private static readonly HttpClient Http = new();
    private readonly PolicyFixture _fixture;

    public ModernApprovalTests(PolicyFixture fixture)
    {
        _fixture = fixture;
    }

    private const string Elicitation =
        "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}";

    /// <summary>A modern tools/call of <c>mail__get-sum</c> (approval required for big sums), with a retry's members when given.</summary>
    internal static Task<(int Status, JsonElement Message)> CallAsync(Uri url, string arguments, string retry = "", string meta = Elicitation) =>
        ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(
                url,
                ModernRaw.Body(1, "tools/call", $"\"name\":\"mail__get-sum\",\"arguments\":{arguments}{retry}", meta),
                "tools/call",
                "mail__get-sum"
            )
        );

    internal static string Retry(string state, string action) =>
        $",\"requestState\":\"{state}\",\"inputResponses\":{{\"approval\":{{\"action\":\"{action}\"}}}}";

    [Theory]
    [InlineData("accept", false, "12346")]
    [InlineData("decline", true, "the user declined the call")]
    public async Task The_v2_typescript_client_is_asked_through_input_required_and_its_answer_decides(string action, bool refused, string expected)
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-approval.mjs"), _fixture.Gateway.McpUrl("agent").ToString(), "mail__get-sum", "{\"a\":12345,\"b\":1}", action],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);
        var result = JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        var asked = Assert.Single(result.GetProperty("asked").EnumerateArray()).GetString()!;
        Assert.Contains("approve-big-sums", asked, StringComparison.Ordinal);
        Assert.Contains("12345", asked, StringComparison.Ordinal);
        Assert.Equal(refused, result.GetProperty("isError").GetBoolean());
        Assert.Contains(expected, result.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_state_that_was_altered_or_is_presented_with_other_arguments_is_refused()
    {
        var url = _fixture.Gateway.McpUrl("agent");
        var (status, first) = await CallAsync(url, "{\"a\":12345,\"b\":1}");
        Assert.Equal(200, status);
        var result = first.GetProperty("result");
        Assert.Equal("input_required", result.GetProperty("resultType").GetString());
        Assert.Equal("elicitation/create", result.GetProperty("inputRequests").GetProperty("approval").GetProperty("method").GetString());
        var state = result.GetProperty("requestState").GetString()!;

        // Other arguments under the same state: refused, never forwarded.
        var moved = await CallAsync(url, "{\"a\":99999,\"b\":1}", Retry(state, "accept"));
        Assert.Equal(-32602, RawMcp.ErrorCode(moved.Message));
        Assert.Contains("requestState", moved.Message.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        // One character of the state changed.
        var tampered = state[..^1] + (state[^1] == 'A' ? 'B' : 'A');
        Assert.Equal(-32602, RawMcp.ErrorCode((await CallAsync(url, "{\"a\":12345,\"b\":1}", Retry(tampered, "accept"))).Message));

        // A session id of this gateway is not an approval state either.
        using var init = await Http.SendAsync(RawMcp.Post(url, RawMcp.Initialize()), TestContext.Current.CancellationToken);
        var sessionId = init.Headers.GetValues("Mcp-Session-Id").Single();
        Assert.Equal(-32602, RawMcp.ErrorCode((await CallAsync(url, "{\"a\":12345,\"b\":1}", Retry(sessionId, "accept"))).Message));

        // The untouched state with the same call goes through; without the answer the client is asked again.
        var again = await CallAsync(url, "{\"a\":12345,\"b\":1}", $",\"requestState\":\"{state}\"");
        Assert.Equal("input_required", again.Message.GetProperty("result").GetProperty("resultType").GetString());
        var approved = await CallAsync(url, "{\"a\":12345,\"b\":1}", Retry(state, "accept"));
        Assert.Contains("12346", approved.Message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_without_elicitation_is_refused_with_the_reason()
    {
        var (_, message) = await CallAsync(_fixture.Gateway.McpUrl("agent"), "{\"a\":12345,\"b\":1}", meta: ModernRaw.Envelope);
        var result = message.GetProperty("result");
        Assert.True(result.GetProperty("isError").GetBoolean());
        Assert.Contains(
            "did not declare the elicitation capability",
            result.GetProperty("content")[0].GetProperty("text").GetString(),
            StringComparison.Ordinal
        );
    }

    [Fact]
    public async Task A_retry_continues_on_another_gateway_process_that_shares_the_session_key_and_fails_clearly_on_one_that_does_not()
    {
        var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        var loaded = ConfigLoader.Load(_fixture.ConfigPath, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        var shared = loaded.Config! with { Security = loaded.Config!.Security with { SessionKey = key } };
        await using var first = await GatewayHarness.StartAsync(shared, enforceToolDefaults: true);
        await using var second = await GatewayHarness.StartAsync(shared, enforceToolDefaults: true);
        await using var stranger = await GatewayHarness.StartAsync(loaded.Config!, enforceToolDefaults: true);

        var asked = (await CallAsync(first.McpUrl("agent"), "{\"a\":12345,\"b\":1}")).Message.GetProperty("result");
        var state = asked.GetProperty("requestState").GetString()!;
        var continued = await CallAsync(second.McpUrl("agent"), "{\"a\":12345,\"b\":1}", Retry(state, "accept"));
        Assert.Contains("12346", continued.Message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);

        var refused = await CallAsync(stranger.McpUrl("agent"), "{\"a\":12345,\"b\":1}", Retry(state, "accept"));
        Assert.Equal(-32602, RawMcp.ErrorCode(refused.Message));
        Assert.Contains("security.sessionKey", refused.Message.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
