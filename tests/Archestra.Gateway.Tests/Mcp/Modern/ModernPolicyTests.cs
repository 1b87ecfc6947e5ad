using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Policy;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// A 2026-07-28 request has no session to track trust in, so it is judged as an untrusted context: it never escapes a
/// <c>block_when_context_is_untrusted</c> that stops a tainted 2025 session, and its calls leave the same audit rows.
/// </summary>
public sealed class ModernPolicyTests : IClassFixture<PolicyFixture>
{
    private static readonly HttpClient Http = new();
    private readonly PolicyFixture _fixture;

    public ModernPolicyTests(PolicyFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<System.Text.Json.JsonElement> CallModernAsync(string tool, string arguments)
    {
        var url = _fixture.Gateway.McpUrl("agent");
        var body = ModernRaw.Body(1, "tools/call", $"\"name\":\"{tool}\",\"arguments\":{arguments}");
        var (status, message) = await ModernRaw.SendAsync(Http, ModernRaw.Post(url, body, "tools/call", tool));
        Assert.Equal(200, status);
        return message.GetProperty("result");
    }

    private static string Text(System.Text.Json.JsonElement result) => result.GetProperty("content")[0].GetProperty("text").GetString()!;

    [Fact]
    public async Task A_modern_call_meets_the_untrusted_context_rule_that_stops_a_tainted_2025_session()
    {
        var marker = Guid.NewGuid().ToString("N");

        // 2025: a fresh session may send it; after an untrusted result the same call is refused.
        var url = _fixture.Gateway.McpUrl("agent");
        using var init = await Http.SendAsync(RawMcp.Post(url, RawMcp.Initialize()), Ct);
        var session = init.Headers.GetValues("Mcp-Session-Id").Single();
        var before = await ModernRaw.SendAsync(Http, RawMcp.Post(url, RawMcp.Call(2, "mail__echo", "{\"message\":\"password 1\"}"), session));
        Assert.False(before.Message.GetProperty("result").TryGetProperty("isError", out var e1) && e1.GetBoolean());
        await ModernRaw.SendAsync(Http, RawMcp.Post(url, RawMcp.Call(3, "web__echo", "{\"message\":\"from the web\"}"), session));
        var after = await ModernRaw.SendAsync(Http, RawMcp.Post(url, RawMcp.Call(4, "mail__echo", "{\"message\":\"password 2\"}"), session));
        Assert.True(after.Message.GetProperty("result").GetProperty("isError").GetBoolean());

        // 2026-07-28: the same call is refused by the same policy, and the text says why.
        var modern = await CallModernAsync("mail__echo", $"{{\"message\":\"password {marker}\"}}");
        Assert.True(modern.GetProperty("isError").GetBoolean());
        Assert.Equal("complete", modern.GetProperty("resultType").GetString());
        Assert.Contains("no-password-mail", Text(modern), StringComparison.Ordinal);
        Assert.Contains("judged as untrusted", Text(modern), StringComparison.Ordinal);

        // allow_when_context_is_untrusted still allows what it names.
        var status = await CallModernAsync("mail__echo", "{\"message\":\"status: fine\"}");
        Assert.False(status.TryGetProperty("isError", out var e2) && e2.GetBoolean());
        Assert.Equal("Echo: status: fine", Text(status));

        // The audit row has the 2025 shape: same server and tool naming, decision, outcome and policy; no session.
        var store = _fixture.Gateway.Server.Store;
        for (var attempt = 0; ; attempt++)
        {
            var page = await store.ListToolCallsAsync(new Archestra.Storage.ToolCallQuery { Profile = "agent", Limit = 1000 }, Ct);
            if (page.Items.FirstOrDefault(r => r.Arguments?.Contains(marker, StringComparison.Ordinal) == true) is { } row)
            {
                Assert.Equal(("mail", "echo", "block", "blocked", "no-password-mail"), (row.Server, row.Tool, row.Decision, row.Outcome, row.PolicyId));
                Assert.Null(row.SessionId);
                break;
            }

            Assert.True(attempt < 200, "the audit row never arrived");
            await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task Require_approval_refuses_a_modern_client_and_says_why()
    {
        var result = await CallModernAsync("mail__get-sum", "{\"a\":12345,\"b\":1}");
        Assert.True(result.GetProperty("isError").GetBoolean());
        Assert.Contains("approve-big-sums", Text(result), StringComparison.Ordinal);
    }
}
