using System.Net;
using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>The official Anthropic .NET SDK (and raw HTTP where exact bytes matter) through /v1/anthropic/{profile}.</summary>
public sealed class AnthropicProxyTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private AnthropicClient Client(string key = LlmProxyFixture.VirtualKey, string profile = "team") =>
        new()
        {
            ApiKey = key,
            BaseUrl = fixture.AnthropicBase(profile).ToString(),
            MaxRetries = 0,
        };

    private static MessageCreateParams Params(string model) =>
        new()
        {
            Model = model,
            MaxTokens = 100,
            Messages = [new UserMessageParam("hi")],
        };

    [Fact]
    public async Task A_plain_message_reaches_the_sdk_unchanged_and_its_tokens_are_recorded_exactly()
    {
        var message = await Client().Messages.Create(Params("claude-plain"), Ct);

        Assert.True(message.Content[0].TryPickText(out var text));
        Assert.Equal(FakeProvider.AnthropicText, text.Text);
        Assert.Equal(20, message.Usage.InputTokens);
        var received = fixture.Fake.Requests.Last(r => r.Body.Contains("claude-plain", StringComparison.Ordinal));
        Assert.Equal(LlmProxyFixture.AnthropicProviderKey, received.ApiKey);

        var row = Assert.Single(await fixture.AuditAsync("claude-plain"));
        Assert.Equal(("team", "anthropic", "ok", FakeProvider.AnthropicModel), (row.Profile, row.Provider, row.Status, row.UsedModel));

        // input_tokens 20 + cache writes 3 + cache reads 7; cached = the reads.
        Assert.Equal((30, 9, 7, 0), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Null(row.TimeToFirstTokenMicroseconds);
    }

    [Fact]
    public async Task A_streamed_message_reaches_the_sdk_and_records_message_start_and_message_delta_usage()
    {
        var text = new StringBuilder();
        await foreach (var ev in Client().Messages.CreateStreaming(Params("claude-stream"), Ct))
        {
            if (ev.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
            {
                text.Append(t.Text);
            }
        }

        Assert.Equal(FakeProvider.AnthropicText, text.ToString());
        var row = Assert.Single(await fixture.AuditAsync("claude-stream"));
        Assert.Equal("ok", row.Status);
        Assert.Equal((30, 9, 7), (row.InputTokens, row.OutputTokens, row.CachedInputTokens));
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    [Fact]
    public async Task The_stream_reaches_the_client_byte_for_byte()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.AnthropicBase() + "/v1/messages")
        {
            Content = new StringContent(
                """{"model":"claude-bytes","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}""",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Add("x-api-key", LlmProxyFixture.VirtualKey);
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(FakeProvider.AnthropicStream(), await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("req_fake_1", response.Headers.GetValues("request-id").Single());
    }

    [Fact]
    public async Task Count_tokens_is_forwarded()
    {
        var count = await Client().Messages.CountTokens(new MessageCountTokensParams { Model = "claude-count", Messages = [new UserMessageParam("hi")] }, Ct);

        Assert.Equal(42, count.InputTokens);
    }

    [Fact]
    public async Task A_wrong_virtual_key_gets_401_in_anthropic_format_and_the_sdk_exception()
    {
        await Assert.ThrowsAsync<AnthropicUnauthorizedException>(() => Client(key: "nope").Messages.Create(Params("claude-wrongkey"), Ct));

        using var http = new HttpClient();
        using var response = await http.PostAsync(fixture.AnthropicBase() + "/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"), Ct);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
        Assert.Equal("authentication_error", json.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("claude-wrongkey", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Upstream_429_and_500_reach_the_sdk_as_its_own_exceptions()
    {
        var limited = await Assert.ThrowsAsync<AnthropicRateLimitException>(() => Client().Messages.Create(Params("fail-429"), Ct));
        Assert.Contains("Rate limit reached", limited.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<Anthropic5xxException>(() => Client().Messages.Create(Params("fail-500"), Ct));

        var row = Assert.Single(await fixture.AuditAsync("fail-429"));
        Assert.Equal("429", row.Status);
        Assert.Contains("rate_limit_error", row.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_overloaded_provider_answers_529_overloaded_error_which_reaches_the_sdk_and_the_audit()
    {
        fixture.Fake.ModelStatus["claude-overloaded"] = 529;
        var overloaded = await Assert.ThrowsAsync<AnthropicOverloadedException>(() => Client().Messages.Create(Params("claude-overloaded"), Ct));
        Assert.Contains("Overloaded", overloaded.Message, StringComparison.Ordinal);

        var row = (await fixture.AuditAsync("claude-overloaded"))[^1];
        Assert.Equal("529", row.Status);
        Assert.Contains("overloaded_error", row.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_delta_usage_is_cumulative_so_its_input_tokens_replace_message_starts_and_are_never_added()
    {
        // Server tools ran mid-answer: message_start said 20 input tokens, the final message_delta says 26 in all.
        await foreach (var _ in Client().Messages.CreateStreaming(Params("claude-server-tools"), Ct)) { }

        var row = Assert.Single(await fixture.AuditAsync("claude-server-tools"));
        Assert.Equal("ok", row.Status);
        Assert.Equal((26 + 3 + 7, 9, 7), (row.InputTokens, row.OutputTokens, row.CachedInputTokens));
    }

    [Fact]
    public async Task An_error_event_after_a_200_reaches_the_client_as_sent_and_is_audited_as_upstream_error()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.AnthropicBase() + "/v1/messages")
        {
            Content = new StringContent(
                """{"model":"error-midstream","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}""",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Add("x-api-key", LlmProxyFixture.VirtualKey);
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await http.SendAsync(request, Ct);

        // The provider's own error event ends the stream the client sees; the proxy adds nothing after it.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(FakeProvider.AnthropicStream(errorMidstream: true), await response.Content.ReadAsStringAsync(Ct));

        var row = Assert.Single(await fixture.AuditAsync("error-midstream"));
        Assert.Equal("upstream_error", row.Status);
        Assert.Contains("overloaded_error", row.Error, StringComparison.Ordinal);
        Assert.Equal(30, row.InputTokens);

        // The SDK raises it.
        var text = new StringBuilder();
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var ev in Client().Messages.CreateStreaming(Params("error-midstream"), Ct))
            {
                if (ev.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
                {
                    text.Append(t.Text);
                }
            }
        });
        Assert.Equal("Hello from", text.ToString());
    }

    [Fact]
    public async Task A_stream_cut_midway_ends_with_an_error_event_and_is_recorded_as_such()
    {
        var text = new StringBuilder();
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var ev in Client().Messages.CreateStreaming(Params("cut"), Ct))
            {
                if (ev.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
                {
                    text.Append(t.Text);
                }
            }
        });

        // message_start arrived before the cut, so its input tokens count.
        var row = Assert.Single(await fixture.AuditAsync("cut"));
        Assert.Equal("stream_cut", row.Status);
        Assert.Equal(30, row.InputTokens);
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_the_upstream_request()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var started = new TaskCompletionSource();
        var reading = Task.Run(
            async () =>
            {
                await foreach (var _ in Client().Messages.CreateStreaming(Params("hang"), cts.Token))
                {
                    started.TrySetResult();
                }
            },
            Ct
        );

        await started.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        await fixture.Fake.HangAborted.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Contains(await fixture.AuditAsync("hang"), r => r.Status == "client_cancelled");
    }
}
