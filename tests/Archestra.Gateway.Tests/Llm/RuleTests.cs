using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>Optimization rules send matching requests to a cheaper model; the audit keeps both models.</summary>
public sealed class RuleTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ChatClient Chat(string model) =>
        new(
            model,
            new ApiKeyCredential(LlmProxyFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase("rules"), RetryPolicy = new ClientRetryPolicy(0) }
        );

    private async Task RuleAsync(string json)
    {
        using var admin = fixture.Admin();
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync("/api/llm/optimization-rules", json)).Status);
    }

    private async Task<HttpResponseMessage> PostAsync(string path, string body, bool anthropic = false)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, (anthropic ? fixture.AnthropicBase("rules") : fixture.OpenAiBase("rules")) + path)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (anthropic)
        {
            request.Headers.Add("x-api-key", LlmProxyFixture.VirtualKey);
            request.Headers.Add("anthropic-version", "2023-06-01");
        }
        else
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        }

        var response = await http.SendAsync(request, Ct);
        await response.Content.LoadIntoBufferAsync(Ct);
        return response;
    }

    private string Received(string marker) => fixture.Fake.Requests.Last(r => r.Body.Contains(marker, StringComparison.Ordinal)).Body;

    [Fact]
    public async Task A_short_request_goes_to_the_cheaper_model_and_the_audit_keeps_both_models()
    {
        await RuleAsync("""{"profile": "rules", "conditions": {"maxInputChars": 400, "requestedModel": "gpt-4o-rule*"}, "targetModel": "gpt-4o-mini"}""");

        var completion = (await Chat("gpt-4o-rule").CompleteChatAsync([new UserChatMessage("short-marker")], cancellationToken: Ct)).Value;

        Assert.Equal("gpt-4o-mini-2024-08-06", completion.Model);
        var forwarded = Received("short-marker");
        Assert.Contains("\"model\":\"gpt-4o-mini\"", forwarded, StringComparison.Ordinal);
        Assert.DoesNotContain("gpt-4o-rule", forwarded, StringComparison.Ordinal);
        var row = Assert.Single(await fixture.AuditAsync("gpt-4o-rule"));
        Assert.Equal(("gpt-4o-rule", "gpt-4o-mini-2024-08-06"), (row.RequestedModel, row.UsedModel));

        // Priced as the model that answered: gpt-4o-mini, $0.15 in, $0.075 cached, $0.60 out.
        Assert.Equal((8 * 0.15m + 4 * 0.075m + 5 * 0.60m) / 1_000_000m, row.Cost);

        // Over the size condition: forwarded as asked.
        await Chat("gpt-4o-rule-long").CompleteChatAsync([new UserChatMessage("long-marker " + new string('x', 500))], cancellationToken: Ct);
        Assert.Contains("\"model\":\"gpt-4o-rule-long\"", Received("long-marker"), StringComparison.Ordinal);
        Assert.Equal("gpt-4o-rule-long-2024-08-06", Assert.Single(await fixture.AuditAsync("gpt-4o-rule-long")).UsedModel);
    }

    [Fact]
    public async Task The_model_splice_and_the_usage_splice_together_leave_every_other_byte_as_sent()
    {
        await RuleAsync("""{"profile": "rules", "conditions": {"requestedModel": "gpt-splice-rule"}, "targetModel": "gpt-4o-mini"}""");

        using var response = await PostAsync(
            "/chat/completions",
            """{"model" : "gpt-splice-rule","stream":true,"messages":[{"role":"user","content":"splice-marker"}]}"""
        );

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            """{"model" : "gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"splice-marker"}],"stream_options":{"include_usage":true}}""",
            Received("splice-marker")
        );
        var row = Assert.Single(await fixture.AuditAsync("gpt-splice-rule"));
        Assert.Equal("gpt-4o-mini-2024-08-06", row.UsedModel);
    }

    [Fact]
    public async Task A_rule_for_requests_without_tools_leaves_requests_with_tools_alone()
    {
        await RuleAsync("""{"profile": "rules", "conditions": {"hasTools": false, "requestedModel": "claude-rule*"}, "targetModel": "claude-haiku-4-5"}""");

        using var plain = await PostAsync(
            "/v1/messages",
            """{"model":"claude-rule","max_tokens":10,"messages":[{"role":"user","content":"no-tools-marker"}],"tools":[ ]}""",
            anthropic: true
        );
        using var tools = await PostAsync(
            "/v1/messages",
            """{"model":"claude-rule-tools","max_tokens":10,"messages":[{"role":"user","content":"tools-marker"}],"tools":["""
                + """{"name":"t","input_schema":{"type":"object"}}]}""",
            anthropic: true
        );

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (plain.StatusCode, tools.StatusCode));
        Assert.StartsWith("""{"model":"claude-haiku-4-5","max_tokens":10""", Received("no-tools-marker"), StringComparison.Ordinal);
        Assert.StartsWith("""{"model":"claude-rule-tools","max_tokens":10""", Received("tools-marker"), StringComparison.Ordinal);
        Assert.Equal("claude-rule", Assert.Single(await fixture.AuditAsync("claude-rule")).RequestedModel);
    }
}
