using System.Text.Json;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// The npm <c>openai</c> SDK (tests/node/llm/openai.mjs) on the unified endpoint, reaching the fake Anthropic and Gemini
/// providers with <c>provider/model</c>: plain text, streams, a tool-call round trip in which the SDK's own assistant
/// message goes back with the tool's result, and the usage and cost recorded with the provider that answered. The fake's
/// Anthropic usage is 20 input, 7 cache reads, 3 cache writes, 9 output (as <c>claude-sonnet-4-5</c>); its Gemini usage
/// 30 prompt tokens (10 cached), 8 candidate and 5 thought tokens.
/// </summary>
public sealed class UnifiedNodeSdkTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private const decimal AnthropicCost = (20 * 3m + 7 * 0.30m + 3 * 3.75m + 9 * 15m) / 1_000_000m;

    private static decimal GeminiCost(decimal input, decimal cached, decimal output) => (20 * input + 10 * cached + 13 * output) / 1_000_000m;

    private Task<JsonElement> RunAsync(string scenario, string model, string? secondModel = null) =>
        NodeSdkTests.RunAsync("openai.mjs", scenario, fixture.OpenAiBase().ToString(), LlmProxyFixture.VirtualKey, model, secondModel);

    private static string? Text(JsonElement e, string name) => e.GetProperty(name).GetString();

    private static (int Prompt, int Completion, int Cached, int Reasoning) Usage(JsonElement usage) =>
        (
            usage.GetProperty("prompt_tokens").GetInt32(),
            usage.GetProperty("completion_tokens").GetInt32(),
            usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(),
            usage.TryGetProperty("completion_tokens_details", out var d) ? d.GetProperty("reasoning_tokens").GetInt32() : 0
        );

    [Fact]
    public async Task Plain_answers_from_claude_and_gemini_carry_their_usage_and_are_priced_as_the_provider_that_answered()
    {
        var claude = await RunAsync("plain", "anthropic/claude-haiku-4-5");
        Assert.Equal((FakeProvider.AnthropicText, FakeProvider.AnthropicModel, "stop"), (Text(claude, "text"), Text(claude, "model"), Text(claude, "finish")));
        Assert.Equal((30, 9, 7, 0), Usage(claude.GetProperty("usage")));

        var gemini = await RunAsync("plain", "gemini/gemini-2.5-flash");
        Assert.Equal((FakeProvider.GeminiText, "stop"), (Text(gemini, "text"), Text(gemini, "finish")));
        Assert.Equal((30, 13, 10, 5), Usage(gemini.GetProperty("usage")));

        var claudeRow = Assert.Single(await fixture.AuditAsync("anthropic/claude-haiku-4-5"));
        Assert.Equal(
            ("anthropic", "ok", FakeProvider.AnthropicModel, AnthropicCost),
            (claudeRow.Provider, claudeRow.Status, claudeRow.UsedModel, claudeRow.Cost)
        );
        var geminiRow = Assert.Single(await fixture.AuditAsync("gemini/gemini-2.5-flash"));
        Assert.Equal(
            ("gemini", "ok", 30L, 13L, 10L, 5L),
            (geminiRow.Provider, geminiRow.Status, geminiRow.InputTokens, geminiRow.OutputTokens, geminiRow.CachedInputTokens, geminiRow.ReasoningTokens)
        );
        Assert.Equal(GeminiCost(0.30m, 0.03m, 2.50m), geminiRow.Cost);
    }

    [Fact]
    public async Task Streams_from_claude_and_gemini_assemble_in_the_sdk_with_usage_only_when_asked()
    {
        var claude = await RunAsync("stream", "anthropic/claude-node-stream");
        Assert.Equal((FakeProvider.AnthropicText, "stop"), (Text(claude, "text"), Text(claude, "finish")));
        Assert.Equal(JsonValueKind.Null, claude.GetProperty("usage").ValueKind);

        var gemini = await RunAsync("stream-usage", "gemini/gemini-2.5-pro");
        Assert.Equal((FakeProvider.GeminiText, "stop"), (Text(gemini, "text"), Text(gemini, "finish")));
        Assert.Equal((30, 13, 10, 5), Usage(gemini.GetProperty("usage")));

        // Usage is recorded whether or not the client asked for it.
        var claudeRow = Assert.Single(await fixture.AuditAsync("anthropic/claude-node-stream"));
        Assert.Equal(("anthropic", "ok", AnthropicCost), (claudeRow.Provider, claudeRow.Status, claudeRow.Cost));
        Assert.NotNull(claudeRow.TimeToFirstTokenMicroseconds);
        var geminiRow = Assert.Single(await fixture.AuditAsync("gemini/gemini-2.5-pro"));
        Assert.Equal(("gemini", "ok", GeminiCost(1.25m, 0.125m, 10.00m)), (geminiRow.Provider, geminiRow.Status, geminiRow.Cost));
    }

    [Theory]
    [InlineData("anthropic/call:get_weather#node-trip", "anthropic/claude-node-answer", "anthropic", "/v1/messages")]
    [InlineData("gemini/call-get_weather--node-trip", "gemini/gemini-2.5-flash-lite", "gemini", "/gemini/v1beta/models/gemini-2.5-flash-lite:generateContent")]
    public async Task A_tool_call_round_trip_sends_the_sdks_assistant_message_and_the_result_back_translated(
        string model,
        string secondModel,
        string provider,
        string secondPath
    )
    {
        var result = await RunAsync("round-trip", model, secondModel);

        Assert.Equal("tool_calls", Text(result, "firstFinish"));
        Assert.Equal(FakeProvider.ToolPreamble, Text(result, "preamble"));
        var call = Assert.Single(result.GetProperty("toolCalls").EnumerateArray().ToList());
        Assert.Equal(("get_weather", """{"city":"Paris"}"""), (Text(call, "name"), Text(call, "arguments")));
        Assert.Equal(provider == "anthropic" ? FakeProvider.AnthropicText : FakeProvider.GeminiText, Text(result, "text"));
        Assert.Equal("stop", Text(result, "finish"));

        var sent = fixture.Fake.Requests.Last(r => r.Path == secondPath).Body;
        if (provider == "anthropic")
        {
            Assert.Contains($$"""{"type":"tool_result","tool_use_id":"{{Text(call, "id")}}","content":"18 degrees"}""", sent, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("""{"functionResponse":{"name":"get_weather","response":{"output":"18 degrees"}}}""", sent, StringComparison.Ordinal);
        }

        var first = Assert.Single(await fixture.AuditAsync(model));
        Assert.Equal((provider, "ok"), (first.Provider, first.Status));
        var second = Assert.Single(await fixture.AuditAsync(secondModel));
        Assert.Equal((provider, "ok"), (second.Provider, second.Status));

        // The second turn's model has a seeded price (the fake's tool models have none).
        Assert.NotNull(second.Cost);
    }

    [Theory]
    [InlineData("anthropic/claude-node-forced", """{"city":"Paris"}""")]
    [InlineData("gemini/call-get_weather--node-stream", "{}")]
    public async Task The_sdks_stream_helper_assembles_a_translated_streamed_tool_call(string model, string arguments)
    {
        var result = await RunAsync("stream-tool", model);

        Assert.Equal("tool_calls", Text(result, "finish"));
        var call = Assert.Single(result.GetProperty("toolCalls").EnumerateArray().ToList());
        Assert.Equal(("get_weather", arguments), (Text(call, "name"), Text(call, "arguments")));
        Assert.StartsWith(
            model[..model.IndexOf('/', StringComparison.Ordinal)],
            Assert.Single(await fixture.AuditAsync(model)).Provider,
            StringComparison.Ordinal
        );
    }
}
