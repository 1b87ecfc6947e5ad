using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;
using Archestra.Storage;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>A profile over its limit is refused before the upstream, with 429 in the provider's format.</summary>
public sealed class BudgetTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ChatClient Chat(string model, string profile) =>
        new(
            model,
            new ApiKeyCredential(LlmProxyFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase(profile), RetryPolicy = new ClientRetryPolicy(0) }
        );

    private async Task LimitAsync(string profile, string kind, string period, decimal value)
    {
        using var admin = fixture.Admin();
        var created = await admin.PostAsync(
            "/api/llm/limits",
            $$"""{"profile": "{{profile}}", "kind": "{{kind}}", "period": "{{period}}","""
                + $$""" "value": {{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}"""
        );
        Assert.Equal(HttpStatusCode.Created, created.Status);
    }

    [Fact]
    public async Task A_call_that_uses_up_a_token_budget_makes_the_next_one_fail_with_429_before_the_upstream()
    {
        await LimitAsync("budget", "tokens", "day", 10);

        // 12 input + 5 output tokens: the first call is under the limit when it starts and over it when it ends.
        await Chat("gpt-budget-first", "budget").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);

        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat("gpt-budget-second", "budget").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        );
        Assert.Equal(429, refused.Status);
        Assert.Contains("profile budget has used 17 of its 10 tokens per day", refused.Message, StringComparison.Ordinal);

        var anthropic = new AnthropicClient
        {
            ApiKey = LlmProxyFixture.VirtualKey,
            BaseUrl = fixture.AnthropicBase("budget").ToString(),
            MaxRetries = 0,
        };
        var limited = await Assert.ThrowsAsync<AnthropicRateLimitException>(() =>
            anthropic.Messages.Create(
                new MessageCreateParams
                {
                    Model = "claude-budget-second",
                    MaxTokens = 10,
                    Messages = [new UserMessageParam("hi")],
                },
                Ct
            )
        );
        Assert.Contains("10 tokens per day", limited.Message, StringComparison.Ordinal);

        // The provider saw only the first call.
        Assert.Contains(fixture.Fake.Requests, r => r.Body.Contains("gpt-budget-first", StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("budget-second", StringComparison.Ordinal));

        var row = Assert.Single(await fixture.AuditAsync("gpt-budget-second"));
        Assert.Equal(("budget", "budget_exceeded", 0m), (row.Profile, row.Status, row.Cost));
        Assert.Contains("10 tokens per day", row.Error, StringComparison.Ordinal);
        Assert.Equal("budget_exceeded", Assert.Single(await fixture.AuditAsync("claude-budget-second")).Status);
    }

    [Fact]
    public async Task The_refusal_is_openai_error_json_with_insufficient_quota()
    {
        // One priced call ($0.000075) uses up a $0.00005 monthly budget.
        await LimitAsync("quota", "usd", "month", 0.00005m);
        await Chat("gpt-4o", "quota").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);

        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase("quota") + "/chat/completions")
        {
            Content = new StringContent("""{"model":"gpt-budget-raw","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var error = json.RootElement.GetProperty("error");
        Assert.Equal(("insufficient_quota", "insufficient_quota"), (error.GetProperty("type").GetString(), error.GetProperty("code").GetString()));
        Assert.StartsWith(
            "Budget exceeded: profile quota has used $0.0001 of its $0.0001 USD per month (resets ",
            error.GetProperty("message").GetString(),
            StringComparison.Ordinal
        );
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("gpt-budget-raw", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Usage_another_replica_wrote_to_the_shared_database_counts_against_the_budget()
    {
        // A row as another gateway sharing the database writes it; this gateway never served the profile.
        fixture.Gateway.Server.Audit.Enqueue(
            new LlmInteractionRecord
            {
                Profile = "shared",
                Provider = "openai",
                RequestedModel = "gpt-elsewhere",
                InputTokens = 900,
                OutputTokens = 100,
                Cost = 1m,
            }
        );
        var totals = await WaitForTotalsAsync("shared", 1000);
        Assert.Equal((1000L, 1m, 1000L, 1m), (totals.Day.Tokens, totals.Month.Usd, totals.Total.Tokens, totals.Total.Usd));

        await LimitAsync("shared", "tokens", "total", 1000);
        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat("gpt-shared", "shared").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        );
        Assert.Equal(429, refused.Status);
        Assert.Contains("profile shared has used 1,000 of its 1,000 tokens in total (does not reset)", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("gpt-shared", StringComparison.Ordinal));
    }

    private async Task<Archestra.Policy.Llm.UsageTotals> WaitForTotalsAsync(string profile, long tokens)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var totals = await fixture.Gateway.Server.Store.GetUsageTotalsAsync(profile, DateTime.UtcNow, Ct);
            if (totals.Total.Tokens >= tokens || DateTime.UtcNow > deadline)
            {
                return totals;
            }

            await Task.Delay(25, Ct);
        }
    }
}
