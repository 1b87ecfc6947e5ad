using System.Net;
using System.Text;
using System.Text.Json;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// <c>/v1/gemini/{profile}</c>: the npm <c>@google/genai</c> SDK (pinned in tests/node, tests/node/llm/gemini.mjs) with
/// only its base URL and API key changed, and raw HTTP where the SDK cannot show a wire detail. The fake's Gemini usage
/// is 30 prompt tokens (10 cached), 8 candidate tokens and 5 thought tokens (<see cref="FakeProvider.GeminiUsage"/>).
/// </summary>
public sealed class GeminiProxyTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    // gemini-2.5-flash: $0.30 in, $0.03 cached, $2.50 out (thoughts billed as output).
    private const decimal FlashCost = (20 * 0.30m + 10 * 0.03m + (8 + 5) * 2.50m) / 1_000_000m;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<JsonElement> SdkAsync(string scenario, string model, string key = LlmProxyFixture.VirtualKey) =>
        NodeSdkTests.RunAsync("gemini.mjs", scenario, fixture.GeminiBase().ToString(), key, model);

    private async Task<(HttpStatusCode Status, string Body, string? ContentType)> PostAsync(string path, string body, string? key = LlmProxyFixture.VirtualKey)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.GeminiBase() + path)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (key is not null)
        {
            request.Headers.Add("x-goog-api-key", key);
        }

        using var response = await http.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct), response.Content.Headers.ContentType?.MediaType);
    }

    private static string Ask(string text = "hi") => $$"""{"contents":[{"role":"user","parts":[{"text":"{{text}}"}]}]}""";

    private FakeProvider.Received Sent(string model) => fixture.Fake.Requests.Last(r => r.Path.Contains($"/models/{model}:", StringComparison.Ordinal));

    [Fact]
    public async Task The_gemini_sdk_gets_a_plain_answer_and_the_usage_and_exact_cost_are_recorded()
    {
        var result = await SdkAsync("plain", "gemini-2.5-flash");

        Assert.Equal(FakeProvider.GeminiText, result.GetProperty("text").GetString());
        Assert.Equal("STOP", result.GetProperty("finish").GetString());
        Assert.Equal(30, result.GetProperty("usage").GetProperty("prompt").GetInt32());

        // The provider got the profile's key in its header, never the virtual key.
        var sent = Sent("gemini-2.5-flash");
        Assert.Equal(LlmProxyFixture.GeminiProviderKey, sent.ApiKey);
        Assert.StartsWith("/gemini/v1/models/gemini-2.5-flash:generateContent", sent.Path, StringComparison.Ordinal);

        var row = Assert.Single(await fixture.AuditAsync("gemini-2.5-flash"));
        Assert.Equal(("gemini", "ok", "gemini-2.5-flash"), (row.Provider, row.Status, row.UsedModel));
        Assert.Equal((30, 13, 10, 5), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(FlashCost, row.Cost);
    }

    [Fact]
    public async Task The_gemini_sdk_assembles_a_stream_and_its_last_chunk_carries_the_usage()
    {
        var result = await SdkAsync("stream", "gemini-2.5-flash-lite");

        Assert.Equal(FakeProvider.GeminiText, result.GetProperty("text").GetString());
        Assert.Equal(2, result.GetProperty("chunks").GetInt32());
        Assert.Equal("STOP", result.GetProperty("finish").GetString());
        Assert.Contains("alt=sse", Sent("gemini-2.5-flash-lite").Path, StringComparison.Ordinal);

        var row = Assert.Single(await fixture.AuditAsync("gemini-2.5-flash-lite"));
        Assert.Equal("ok", row.Status);
        Assert.Equal((30, 13, 10, 5), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal((20 * 0.10m + 10 * 0.01m + 13 * 0.40m) / 1_000_000m, row.Cost);
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    [Fact]
    public async Task The_gemini_sdk_receives_function_calls_plain_and_streamed()
    {
        var plain = await SdkAsync("call", "call-send_mail--plain");
        Assert.True(plain.TryGetProperty("calls", out _), plain.ToString());
        var call = Assert.Single(plain.GetProperty("calls").EnumerateArray());
        Assert.Equal("send_mail", call.GetProperty("name").GetString());
        Assert.Equal("ann@example.com", call.GetProperty("args").GetProperty("to").GetString());

        var streamed = await SdkAsync("streamCall", "call-send_mail--stream");
        Assert.Equal(FakeProvider.ToolPreamble, streamed.GetProperty("text").GetString());
        Assert.Equal("send_mail", Assert.Single(streamed.GetProperty("calls").EnumerateArray()).GetProperty("name").GetString());
    }

    [Theory]
    [InlineData("fail-429", 429, "RESOURCE_EXHAUSTED")]
    [InlineData("fail-500", 500, "INTERNAL")]
    public async Task Provider_errors_reach_the_gemini_sdk_as_its_api_error_with_the_providers_message(string model, int status, string name)
    {
        var result = await SdkAsync("plain", model);

        Assert.Equal(("ApiError", status), (result.GetProperty("error").GetString(), result.GetProperty("status").GetInt32()));
        Assert.Contains(name, result.GetProperty("message").GetString(), StringComparison.Ordinal);
        var row = (await fixture.AuditAsync(model))[^1];
        Assert.Equal(status.ToString(System.Globalization.CultureInfo.InvariantCulture), row.Status);
    }

    [Fact]
    public async Task A_wrong_virtual_key_gets_401_unauthenticated_in_googles_shape_and_never_reaches_the_provider()
    {
        var result = await SdkAsync("plain", "gemini-wrongkey", key: "nope");
        Assert.Equal(("ApiError", 401), (result.GetProperty("error").GetString(), result.GetProperty("status").GetInt32()));

        var (status, body, _) = await PostAsync("/v1beta/models/gemini-wrongkey:generateContent", Ask(), key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        using var json = JsonDocument.Parse(body);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal((401, "UNAUTHENTICATED"), (error.GetProperty("code").GetInt32(), error.GetProperty("status").GetString()));
        Assert.Contains("virtual keys", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Path.Contains("gemini-wrongkey", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_virtual_key_in_the_query_is_accepted_and_taken_out_of_the_forwarded_url()
    {
        using var http = new HttpClient();
        var url = fixture.GeminiBase() + $"/v1/models/gemini-query:generateContent?key={LlmProxyFixture.VirtualKey}&trace=1";
        using var response = await http.PostAsync(url, new StringContent(Ask(), Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Sent("gemini-query");
        Assert.Equal("/gemini/v1/models/gemini-query:generateContent?trace=1", sent.Path);
        Assert.Equal(LlmProxyFixture.GeminiProviderKey, sent.ApiKey);
        Assert.DoesNotContain(LlmProxyFixture.VirtualKey, sent.Path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Count_tokens_and_the_model_list_are_forwarded_and_unknown_paths_get_googles_404()
    {
        Assert.Equal(42, (await SdkAsync("count", "gemini-count")).GetProperty("total").GetInt32());

        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("x-goog-api-key", LlmProxyFixture.VirtualKey);
        Assert.Contains("models/gemini-2.5-flash", await http.GetStringAsync(fixture.GeminiBase() + "/v1beta/models", Ct), StringComparison.Ordinal);

        var (status, body, _) = await PostAsync("/v1beta/models/gemini-2.5-flash:embedContent", "{}");
        Assert.Equal(HttpStatusCode.NotFound, status);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("NOT_FOUND", json.RootElement.GetProperty("error").GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_stream_cut_before_its_finish_reason_is_aborted_and_audited_as_cut()
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("x-goog-api-key", LlmProxyFixture.VirtualKey);
        var content = new StringContent(Ask(), Encoding.UTF8, "application/json");
        await Assert.ThrowsAnyAsync<HttpRequestException>(async () =>
        {
            using var response = await http.PostAsync(fixture.GeminiBase() + "/v1beta/models/cut:streamGenerateContent?alt=sse", content, Ct);
            await response.Content.ReadAsStringAsync(Ct);
        });

        var row = (await fixture.AuditAsync("cut"))[^1];
        Assert.Equal("stream_cut", row.Status);
    }

    [Fact]
    public async Task A_request_body_that_is_not_json_gets_400_invalid_argument()
    {
        var (status, body, type) = await PostAsync("/v1beta/models/gemini-bad:generateContent", "{\"contents\":");

        Assert.Equal((HttpStatusCode.BadRequest, "application/json"), (status, type));
        using var json = JsonDocument.Parse(body);
        Assert.Equal("INVALID_ARGUMENT", json.RootElement.GetProperty("error").GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_optimization_rule_replaces_the_model_in_the_path_and_the_audit_keeps_both()
    {
        using (var admin = fixture.Admin())
        {
            var rule = """{"profile": "rules", "conditions": {"requestedModel": "gemini-2.5-pro-rule"}, "targetModel": "gemini-2.5-flash"}""";
            Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync("/api/llm/optimization-rules", rule)).Status);
        }

        var result = await NodeSdkTests.RunAsync(
            "gemini.mjs",
            "plain",
            fixture.GeminiBase("rules").ToString(),
            LlmProxyFixture.VirtualKey,
            "gemini-2.5-pro-rule"
        );

        Assert.Equal("gemini-2.5-flash", result.GetProperty("model").GetString());
        Assert.StartsWith("/gemini/v1/models/gemini-2.5-flash:generateContent", fixture.Fake.Requests.Last().Path, StringComparison.Ordinal);
        var row = Assert.Single(await fixture.AuditAsync("gemini-2.5-pro-rule"));
        Assert.Equal("gemini-2.5-flash", row.UsedModel);
        Assert.Equal(FlashCost, row.Cost);
    }
}
