using System.Net;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Llm;
using ModelContextProtocol.Client;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>
/// X-Archestra-Agent-Id and X-Archestra-Session-Id reach the audit rows of MCP tool calls and LLM interactions and filter
/// <c>/api/audit/*</c>; a malformed value is refused with the listener's own error shape, never stored cut or cleaned.
/// </summary>
public sealed class AgentCorrelationTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly HttpClient Http = new();

    private static async Task<IReadOnlyList<JsonElement>> AuditUntilAsync(AdminClient admin, string path, int count)
    {
        for (var attempt = 0; ; attempt++)
        {
            var reply = await admin.GetAsync(path);
            Assert.True(reply.Status == HttpStatusCode.OK, reply.ToString());
            var items = reply.Items.ToList();
            if (items.Count >= count || attempt >= 200)
            {
                return items;
            }

            await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task Tool_calls_carry_the_agent_and_conversation_of_the_client_that_made_them()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [GatewayHarness.Stdio("ev", Repo.Node, Repo.Everything, "stdio")],
                Profiles = [GatewayHarness.Profile("team", "ev")],
            }
        );
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        async Task CallAsync(string agent, string conversation, string message)
        {
            var options = new HttpClientTransportOptions
            {
                Endpoint = gateway.McpUrl("team"),
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-Archestra-Agent-Id"] = agent, ["X-Archestra-Session-Id"] = conversation },
            };
            await using var client = await McpClient.CreateAsync(new HttpClientTransport(options), LegacyClient.Options(), cancellationToken: Ct);
            await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = message }, cancellationToken: Ct);
        }

        await CallAsync("planner", "conv-1", "a");
        await CallAsync("planner", "conv-2", "b");
        await CallAsync("coder", "conv-1", "c");

        var all = await AuditUntilAsync(admin, "/api/audit/mcp-tool-calls?profile=team", 3);
        Assert.Equal(3, all.Count);
        var planner = await AuditUntilAsync(admin, "/api/audit/mcp-tool-calls?agentId=planner&sort=asc", 2);
        Assert.Equal(["conv-1", "conv-2"], planner.Select(r => r.GetProperty("agentSessionId").GetString()));
        var conversation = await AuditUntilAsync(admin, "/api/audit/mcp-tool-calls?agentSessionId=conv-1&sort=asc", 2);
        Assert.Equal(["planner", "coder"], conversation.Select(r => r.GetProperty("agentId").GetString()));
        Assert.Equal(["{\"message\":\"a\"}", "{\"message\":\"c\"}"], conversation.Select(r => r.GetProperty("arguments").GetString()));
        Assert.Empty((await admin.GetAsync("/api/audit/mcp-tool-calls?agentId=coder&agentSessionId=conv-2")).Items);

        // A value with a space, one too long, one sent twice: 400 with a JSON-RPC error naming the header.
        foreach (
            var (header, values) in new (string, string[])[]
            {
                ("X-Archestra-Agent-Id", ["two words"]),
                ("X-Archestra-Session-Id", [new string('x', 129)]),
                ("X-Archestra-Agent-Id", ["a", "b"]),
            }
        )
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpUrl("team"))
            {
                Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"ping"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            request.Headers.TryAddWithoutValidation(header, values);
            using var response = await Http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(-32600, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
            Assert.Contains(header, error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    private async Task<HttpResponseMessage> ChatAsync(string model, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/chat/completions")
        {
            Content = new StringContent($$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", LlmProxyFixture.VirtualKey);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await Http.SendAsync(request, Ct);
    }

    [Fact]
    public async Task Llm_interactions_carry_the_agent_and_conversation_and_a_bad_value_gets_openais_error_shape()
    {
        const string model = "gpt-4o-correlated";
        using (var ok = await ChatAsync(model, ("X-Archestra-Agent-Id", "planner"), ("X-Archestra-Session-Id", "conv-9")))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (var anonymous = await ChatAsync(model))
        {
            Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        }

        var rows = await fixture.AuditAsync(model, 2);
        Assert.Single(rows, r => r.AgentId == "planner" && r.AgentSessionId == "conv-9");
        Assert.Single(rows, r => r.AgentId is null && r.AgentSessionId is null);

        using var admin = fixture.Admin();
        var filtered = (await admin.GetAsync("/api/audit/llm-interactions?agentSessionId=conv-9")).Items.ToList();
        var row = Assert.Single(filtered);
        Assert.Equal(("planner", model), (row.GetProperty("agentId").GetString(), row.GetProperty("requestedModel").GetString()));

        using var refused = await ChatAsync(model, ("X-Archestra-Session-Id", "tab\there"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Ct));
        Assert.Contains("X-Archestra-Session-Id", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
    }
}
