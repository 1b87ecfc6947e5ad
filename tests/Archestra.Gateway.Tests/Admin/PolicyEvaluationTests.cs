using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>
/// <c>POST /api/policies/evaluate</c>: the live policies' decision for a sample call and result, the same decision a
/// real call then gets, open to a read-only key, and bad input answered with the field it names.
/// </summary>
public sealed class PolicyEvaluationTests
{
    [Fact(Timeout = 120_000)]
    public async Task A_sample_call_gets_the_decision_a_real_call_then_gets_and_bad_input_names_its_field()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig { AdminKeys = AdminClient.FileKeys, McpServers = [AdminClient.FileServer("ev")] }
        );
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync("/api/profiles", """{"name": "team", "servers": ["ev"]}""")).Status);
        var policy = await admin.PostAsync(
            "/api/policies/tool-invocation",
            """
            {"tool": "ev__echo", "action": "block_always", "reason": "no secrets",
             "conditions": [{"key": "message", "operator": "contains", "value": "secret"}]}
            """
        );
        Assert.Equal(HttpStatusCode.Created, policy.Status);
        var id = policy.Json.GetProperty("id").GetString();
        var untrusted = await admin.PostAsync(
            "/api/policies/trusted-data",
            """{"tool": "ev__echo", "action": "mark_as_trusted", "conditions": [{"key": "content", "operator": "contains", "value": "ok"}]}"""
        );
        Assert.Equal(HttpStatusCode.Created, untrusted.Status);

        using var reader = new AdminClient(gateway.Server.AdminUrl, AdminClient.ReaderKey);
        var blocked = await reader.PostAsync("/api/policies/evaluate", """{"profile": "team", "tool": "ev__echo", "arguments": {"message": "a secret"}}""");
        Assert.Equal(HttpStatusCode.OK, blocked.Status);
        var invocation = blocked.Json.GetProperty("invocation");
        Assert.Equal("block", invocation.GetProperty("decision").GetString());
        Assert.Equal("policy", invocation.GetProperty("source").GetString());
        Assert.Equal(id, invocation.GetProperty("policyId").GetString());

        var allowed = await admin.PostAsync(
            "/api/policies/evaluate",
            """{"profile": "team", "tool": "ev__echo", "arguments": {"message": "fine"}, "result": {"content": [{"type": "text", "text": "not sure"}]}}"""
        );
        Assert.Equal("allow", allowed.Json.GetProperty("invocation").GetProperty("decision").GetString());
        Assert.Equal("untrusted", allowed.Json.GetProperty("result").GetProperty("decision").GetString());

        // With the context untrusted, the default settings refuse the tool (its defaults do not allow untrusted use).
        var tainted = await admin.PostAsync("/api/policies/evaluate", """{"profile": "team", "tool": "ev__echo", "contextTrusted": false}""");
        Assert.Equal("block", tainted.Json.GetProperty("invocation").GetProperty("decision").GetString());

        // The real call gets what the evaluation said.
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpUrl("team"))
        {
            Content = new StringContent(
                """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"a secret"}}}""",
                System.Text.Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var answer = await http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Contains("no secrets", await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

        var bad = await admin.PostAsync("/api/policies/evaluate", """{"profile": "nope", "arguments": [1], "contextTrusted": "yes", "extra": 1}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.Status);
        Assert.Equal(["$", "$.arguments", "$.contextTrusted", "$.extra", "$.profile"], bad.Errors.Select(e => e.Path).Order(StringComparer.Ordinal));
        Assert.Contains(bad.Errors, e => e.Path == "$" && e.Message == "missing tool");
    }
}
