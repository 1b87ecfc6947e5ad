using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// The npm <c>openai</c> and <c>@anthropic-ai/sdk</c> clients (pinned in tests/node) through the gateway, configured
/// as an application would with only <c>baseURL</c> and the API key changed; tests/node/llm/*.mjs print what the
/// SDK returned or raised as one JSON line. Every call's audit row is checked for the exact tokens and cost
/// (seeded prices, see <c>PriceTable.Defaults</c>): the fake's OpenAI usage is 12 prompt tokens (4 cached) and
/// 5 completion tokens (2 of them reasoning); its Anthropic usage is 20 input, 7 cache reads, 3 cache writes, 9 output.
/// </summary>
public sealed class NodeSdkTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    // claude-sonnet-4-5(-20250929), the model every fake Anthropic answer names: $3 in, $0.30 cache reads, $3.75 cache writes, $15 out.
    private const decimal AnthropicCost = (20 * 3m + 7 * 0.30m + 3 * 3.75m + 9 * 15m) / 1_000_000m;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static decimal OpenAiCost(decimal input, decimal cached, decimal output) => ((12 - 4) * input + 4 * cached + 5 * output) / 1_000_000m;

    private async Task<JsonElement> OpenAiAsync(string scenario, string model, string key = LlmProxyFixture.VirtualKey) =>
        await RunAsync("openai.mjs", scenario, fixture.OpenAiBase().ToString(), key, model);

    private async Task<JsonElement> AnthropicAsync(string scenario, string model, string key = LlmProxyFixture.VirtualKey) =>
        await RunAsync("anthropic.mjs", scenario, fixture.AnthropicBase().ToString(), key, model);

    internal static async Task<JsonElement> RunAsync(string script, string scenario, string baseUrl, string key, string model, string? secondModel = null)
    {
        string[] args =
        [
            Path.Combine(Repo.Root, "tests", "node", "llm", script),
            scenario,
            baseUrl,
            key,
            model,
            .. secondModel is null ? [] : new[] { secondModel },
        ];
        await using var process = ExternalProcess.Start(Repo.Node22, args);
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);
        var line = process.Output.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        Assert.True(line is not null, process.Output);
        using var json = JsonDocument.Parse(line);
        return json.RootElement.Clone();
    }

    /// <summary>The one audit row of <paramref name="model"/> from <paramref name="provider"/> (the error models are shared by both providers).</summary>
    private async Task<LlmInteractionRecord> RowAsync(string model, string provider)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var page = await fixture.Gateway.Server.Store.ListLlmInteractionsAsync(
                new LlmInteractionQuery
                {
                    Model = model,
                    Provider = provider,
                    Limit = 100,
                },
                Ct
            );
            var rows = page.Items.Where(r => r.RequestedModel == model).ToList();
            if (rows.Count > 0 || DateTime.UtcNow > deadline)
            {
                return Assert.Single(rows);
            }

            await Task.Delay(25, Ct);
        }
    }

    private static string? Text(JsonElement e, string name) => e.GetProperty(name).GetString();

    // ---- openai ----

    [Fact]
    public async Task The_openai_sdk_gets_a_plain_answer_with_its_usage_and_the_exact_cost_is_recorded()
    {
        var result = await OpenAiAsync("plain", "gpt-4o");

        Assert.Equal(FakeProvider.OpenAiText, Text(result, "text"));
        Assert.Equal("gpt-4o-2024-08-06", Text(result, "model"));
        Assert.Equal("stop", Text(result, "finish"));
        var usage = result.GetProperty("usage");
        Assert.Equal(
            (12, 5, 17),
            (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32())
        );
        Assert.Equal(4, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(2, usage.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32());

        // The provider saw the profile's key, not the virtual key the SDK sent.
        Assert.Equal(
            $"Bearer {LlmProxyFixture.OpenAiProviderKey}",
            fixture.Fake.Requests.Last(r => r.Body.Contains("\"gpt-4o\"", StringComparison.Ordinal)).Authorization
        );

        var row = await RowAsync("gpt-4o", "openai");
        Assert.Equal(("ok", "gpt-4o-2024-08-06"), (row.Status, row.UsedModel));
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(OpenAiCost(2.50m, 1.25m, 10.00m), row.Cost);
        Assert.Equal(0.000075m, row.Cost);
    }

    [Fact]
    public async Task The_openai_sdk_assembles_a_stream_it_did_not_ask_usage_for_and_usage_is_still_recorded()
    {
        var result = await OpenAiAsync("stream", "gpt-4o-mini");

        // The text assembled from the deltas is what the fake sent, in the fake's five chunks; the usage chunk the
        // gateway asked for on the client's behalf never reaches the SDK.
        Assert.Equal(FakeProvider.OpenAiText, Text(result, "text"));
        Assert.Equal(5, result.GetProperty("chunks").GetInt32());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("usage").ValueKind);
        Assert.Equal("stop", Text(result, "finish"));
        using (var sent = JsonDocument.Parse(fixture.Fake.Requests.Last(r => r.Body.Contains("\"gpt-4o-mini\"", StringComparison.Ordinal)).Body))
        {
            Assert.True(sent.RootElement.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        }

        var row = await RowAsync("gpt-4o-mini", "openai");
        Assert.Equal("ok", row.Status);
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(OpenAiCost(0.15m, 0.075m, 0.60m), row.Cost);
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    [Fact]
    public async Task The_openai_sdk_that_asks_for_stream_usage_gets_the_usage_chunk()
    {
        var result = await OpenAiAsync("stream-usage", "gpt-4.1");

        Assert.Equal(FakeProvider.OpenAiText, Text(result, "text"));
        Assert.Equal(6, result.GetProperty("chunks").GetInt32());
        var usage = result.GetProperty("usage");
        Assert.Equal((12, 5), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32()));

        var row = await RowAsync("gpt-4.1", "openai");
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(OpenAiCost(2.00m, 0.50m, 8.00m), row.Cost);
    }

    [Fact]
    public async Task The_openai_sdk_receives_a_tool_call()
    {
        var result = await OpenAiAsync("tool", "gpt-5");

        Assert.Equal("tool_calls", Text(result, "finish"));
        Assert.Equal(JsonValueKind.Null, result.GetProperty("content").ValueKind);
        var call = Assert.Single(result.GetProperty("toolCalls").EnumerateArray().ToList());
        Assert.Equal(
            (FakeProvider.OpenAiToolCallId, "get_weather", FakeProvider.ToolArguments),
            (Text(call, "id"), Text(call, "name"), Text(call, "arguments"))
        );

        var row = await RowAsync("gpt-5", "openai");
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(OpenAiCost(1.25m, 0.125m, 10.00m), row.Cost);
    }

    [Fact]
    public async Task The_openai_sdk_stream_helper_assembles_a_streamed_tool_call()
    {
        var result = await OpenAiAsync("stream-tool", "gpt-5-nano");

        Assert.Equal("tool_calls", Text(result, "finish"));
        var call = Assert.Single(result.GetProperty("toolCalls").EnumerateArray().ToList());
        Assert.Equal(
            (FakeProvider.OpenAiToolCallId, "get_weather", FakeProvider.ToolArguments),
            (Text(call, "id"), Text(call, "name"), Text(call, "arguments"))
        );
        Assert.Equal(5, result.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var row = await RowAsync("gpt-5-nano", "openai");
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(OpenAiCost(0.05m, 0.005m, 0.40m), row.Cost);
    }

    [Theory]
    [InlineData(400, "BadRequestError", "messages: field required")]
    [InlineData(401, "AuthenticationError", "invalid x-api-key")]
    [InlineData(429, "RateLimitError", "Rate limit reached for requests")]
    [InlineData(500, "InternalServerError", "The server had an error")]
    public async Task Openai_upstream_errors_raise_the_sdks_own_error_class_once(int status, string errorClass, string message)
    {
        var model = $"fail-{status}";
        var result = await OpenAiAsync("error", model);

        Assert.Equal((errorClass, true), (Text(result, "error"), result.GetProperty("sdk").GetBoolean()));
        Assert.Equal(status, result.GetProperty("status").GetInt32());
        Assert.Contains(message, Text(result, "message"), StringComparison.Ordinal);
        if (status == 429)
        {
            Assert.Equal("7", Text(result, "retryAfter"));
        }

        // maxRetries: 0, and the gateway itself did not retry: the provider saw the request once.
        Assert.Single(fixture.Fake.Requests, r => r.Path == "/v1/chat/completions" && r.Body.Contains($"\"{model}\"", StringComparison.Ordinal));
        var row = await RowAsync(model, "openai");
        Assert.Equal(status.ToString(System.Globalization.CultureInfo.InvariantCulture), row.Status);
        Assert.Contains(message, row.Error, StringComparison.Ordinal);
        Assert.Equal((0, 0), (row.InputTokens, row.OutputTokens));
        Assert.Null(row.Cost);
    }

    [Fact]
    public async Task A_wrong_virtual_key_raises_the_openai_sdks_authentication_error_without_reaching_the_provider()
    {
        var result = await OpenAiAsync("error", "gpt-node-wrongkey", key: "vk-wrong");

        Assert.Equal("AuthenticationError", Text(result, "error"));
        Assert.Equal(401, result.GetProperty("status").GetInt32());
        Assert.Equal("invalid_api_key", Text(result, "code"));
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("gpt-node-wrongkey", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_openai_stream_cut_midway_raises_in_the_sdk_and_is_recorded_as_stream_cut()
    {
        var result = await OpenAiAsync("cut", "cut");

        // The fake sent the role chunk, "Hello" and " from", then reset its connection; the gateway ends the client's
        // response the same way (no clean end, no [DONE]), so the SDK's stream iterator throws what fetch throws for a
        // body that breaks off: TypeError "terminated" (the SDK wraps only request and status errors in its classes).
        Assert.False(result.TryGetProperty("unexpected", out _), result.ToString());
        Assert.Equal(("TypeError", false, "terminated"), (Text(result, "error"), result.GetProperty("sdk").GetBoolean(), Text(result, "message")));
        Assert.Equal("Hello from", Text(result, "text"));
        Assert.Equal(3, result.GetProperty("chunks").GetInt32());
        var row = await RowAsync("cut", "openai");
        Assert.Equal("stream_cut", row.Status);
        Assert.NotNull(row.Error);

        // OpenAI sends usage only in the last chunk, which never came: nothing to count.
        Assert.Equal((0, 0), (row.InputTokens, row.OutputTokens));
    }

    // ---- @anthropic-ai/sdk ----

    [Fact]
    public async Task The_anthropic_sdk_gets_a_plain_answer_with_its_usage_and_the_exact_cost_is_recorded()
    {
        var result = await AnthropicAsync("plain", "claude-node-plain");

        Assert.Equal(FakeProvider.AnthropicText, Text(result, "text"));
        Assert.Equal(FakeProvider.AnthropicModel, Text(result, "model"));
        Assert.Equal("end_turn", Text(result, "stop"));
        var usage = result.GetProperty("usage");
        Assert.Equal(
            (20, 3, 7, 9),
            (
                usage.GetProperty("input_tokens").GetInt32(),
                usage.GetProperty("cache_creation_input_tokens").GetInt32(),
                usage.GetProperty("cache_read_input_tokens").GetInt32(),
                usage.GetProperty("output_tokens").GetInt32()
            )
        );
        Assert.Equal(
            LlmProxyFixture.AnthropicProviderKey,
            fixture.Fake.Requests.Last(r => r.Body.Contains("claude-node-plain", StringComparison.Ordinal)).ApiKey
        );

        var row = await RowAsync("claude-node-plain", "anthropic");
        Assert.Equal(("ok", FakeProvider.AnthropicModel), (row.Status, row.UsedModel));
        // Input counts every input token: 20 uncached + 7 cache reads + 3 cache writes.
        Assert.Equal((30, 9, 7), (row.InputTokens, row.OutputTokens, row.CachedInputTokens));
        Assert.Equal(AnthropicCost, row.Cost);
        Assert.Equal(0.00020835m, row.Cost);
    }

    [Fact]
    public async Task The_anthropic_sdk_assembles_a_stream_event_by_event_and_the_usage_is_recorded()
    {
        var result = await AnthropicAsync("stream", "claude-node-stream");

        Assert.Equal(FakeProvider.AnthropicText, Text(result, "text"));
        Assert.Equal(
            ["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            result.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).ToArray()
        );
        Assert.Equal("end_turn", Text(result, "stop"));
        Assert.Equal(9, result.GetProperty("usage").GetProperty("output_tokens").GetInt32());

        var row = await RowAsync("claude-node-stream", "anthropic");
        Assert.Equal("ok", row.Status);
        Assert.Equal(AnthropicCost, row.Cost);
        Assert.Equal(9, row.OutputTokens);
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    [Theory]
    [InlineData("tool")]
    [InlineData("stream-tool")]
    public async Task The_anthropic_sdk_receives_a_tool_use_plain_and_streamed(string scenario)
    {
        var model = $"claude-node-{scenario}";
        var result = await AnthropicAsync(scenario, model);

        Assert.Equal("tool_use", Text(result, "stop"));
        var block = Assert.Single(result.GetProperty("content").EnumerateArray().ToList());
        Assert.Equal(("tool_use", FakeProvider.AnthropicToolUseId, "get_weather"), (Text(block, "type"), Text(block, "id"), Text(block, "name")));
        Assert.Equal("Paris", block.GetProperty("input").GetProperty("city").GetString());
        Assert.Equal(9, result.GetProperty("usage").GetProperty("output_tokens").GetInt32());

        var row = await RowAsync(model, "anthropic");
        Assert.Equal("ok", row.Status);
        Assert.Equal(AnthropicCost, row.Cost);
    }

    [Theory]
    [InlineData(400, "BadRequestError", "invalid_request_error", "messages: field required")]
    [InlineData(401, "AuthenticationError", "authentication_error", "invalid x-api-key")]
    [InlineData(429, "RateLimitError", "rate_limit_error", "Rate limit reached for requests")]
    [InlineData(500, "InternalServerError", "api_error", "The server had an error")]
    public async Task Anthropic_upstream_errors_raise_the_sdks_own_error_class_once(int status, string errorClass, string type, string message)
    {
        var model = $"fail-{status}";
        var result = await AnthropicAsync("error", model);

        Assert.Equal((errorClass, true), (Text(result, "error"), result.GetProperty("sdk").GetBoolean()));
        Assert.Equal(status, result.GetProperty("status").GetInt32());
        Assert.Equal(type, Text(result, "type"));
        Assert.Contains(message, Text(result, "message"), StringComparison.Ordinal);

        Assert.Single(fixture.Fake.Requests, r => r.Path == "/v1/messages" && r.Body.Contains($"\"{model}\"", StringComparison.Ordinal));
        var row = await RowAsync(model, "anthropic");
        Assert.Equal(status.ToString(System.Globalization.CultureInfo.InvariantCulture), row.Status);
        Assert.Contains(message, row.Error, StringComparison.Ordinal);
        Assert.Null(row.Cost);
    }

    [Fact]
    public async Task A_wrong_virtual_key_raises_the_anthropic_sdks_authentication_error_without_reaching_the_provider()
    {
        var result = await AnthropicAsync("error", "claude-node-wrongkey", key: "vk-wrong");

        Assert.Equal("AuthenticationError", Text(result, "error"));
        Assert.Equal(401, result.GetProperty("status").GetInt32());
        Assert.Equal("authentication_error", Text(result, "type"));
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("claude-node-wrongkey", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_anthropic_stream_cut_midway_raises_in_the_sdk_and_is_recorded_as_stream_cut()
    {
        var result = await AnthropicAsync("cut", "cut");

        // Anthropic streams report failures in band: the gateway ends the stream with an `error` event
        // (type api_error), which the SDK raises as its APIError. The SDK drops `ping` events itself.
        Assert.False(result.TryGetProperty("unexpected", out _), result.ToString());
        Assert.Equal(("APIError", true, "api_error"), (Text(result, "error"), result.GetProperty("sdk").GetBoolean(), Text(result, "type")));
        Assert.Equal(["message_start", "content_block_start"], result.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).ToArray());
        var row = await RowAsync("cut", "anthropic");
        Assert.Equal("stream_cut", row.Status);
        Assert.NotNull(row.Error);
        // Usage up to the cut counts: message_start's input and its first output token.
        Assert.Equal((30, 1, 7), (row.InputTokens, row.OutputTokens, row.CachedInputTokens));
        Assert.Equal((20 * 3m + 7 * 0.30m + 3 * 3.75m + 1 * 15m) / 1_000_000m, row.Cost);
    }
}
