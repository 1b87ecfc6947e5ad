using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>The official OpenAI .NET SDK (and raw HTTP where exact bytes matter) through /v1/openai/{profile}.</summary>
public sealed class OpenAiProxyTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ChatClient Chat(string model, string key = LlmProxyFixture.VirtualKey, string profile = "team") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.OpenAiBase(profile), RetryPolicy = new ClientRetryPolicy(0) });

    [Fact]
    public async Task A_plain_completion_reaches_the_sdk_unchanged_and_its_tokens_are_recorded_exactly()
    {
        var completion = (await Chat("gpt-4o-plain").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)).Value;

        Assert.Equal(FakeProvider.OpenAiText, completion.Content[0].Text);
        Assert.Equal(FakeProvider.UsedModel("gpt-4o-plain"), completion.Model);
        Assert.Equal(12, completion.Usage.InputTokenCount);
        Assert.Equal(4, completion.Usage.InputTokenDetails.CachedTokenCount);

        // The provider saw the profile's provider key, not the virtual key.
        Assert.Equal(
            $"Bearer {LlmProxyFixture.OpenAiProviderKey}",
            fixture.Fake.Requests.Last(r => r.Body.Contains("gpt-4o-plain", StringComparison.Ordinal)).Authorization
        );

        var row = Assert.Single(await fixture.AuditAsync("gpt-4o-plain"));
        Assert.Equal(("team", "openai", "ok"), (row.Profile, row.Provider, row.Status));
        Assert.Equal(FakeProvider.UsedModel("gpt-4o-plain"), row.UsedModel);
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Null(row.TimeToFirstTokenMicroseconds);
        Assert.True(row.DurationMicroseconds > 0);

        // gpt-4o-plain(-2024-08-06) has no price: unknown, not 0.
        Assert.Null(row.Cost);
    }

    [Fact]
    public async Task A_streamed_completion_reaches_the_sdk_and_records_tokens_and_time_to_first_token()
    {
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in Chat("gpt-4o-stream").CompleteChatStreamingAsync([new UserChatMessage("hi")], cancellationToken: Ct))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
        }

        Assert.Equal(FakeProvider.OpenAiText, text.ToString());
        var sent = fixture.Fake.Requests.Last(r => r.Body.Contains("gpt-4o-stream", StringComparison.Ordinal)).Body;
        using (var json = JsonDocument.Parse(sent))
        {
            // Whoever asked, the upstream was asked for usage.
            Assert.True(json.RootElement.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        }

        // The .NET SDK asks for usage itself, so it gets the usage chunk.
        Assert.Equal(5, usage?.OutputTokenCount);

        var row = Assert.Single(await fixture.AuditAsync("gpt-4o-stream"));
        Assert.Equal("ok", row.Status);
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
        Assert.InRange(row.TimeToFirstTokenMicroseconds!.Value, 1, row.DurationMicroseconds);
    }

    [Fact]
    public async Task A_client_that_did_not_ask_for_usage_gets_exactly_the_stream_it_asked_for_while_usage_is_recorded()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/chat/completions")
        {
            Content = new StringContent(
                """{"model":"gpt-4o-nousage","stream":true,"messages":[{"role":"user","content":"hi"}]}""",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(FakeProvider.OpenAiStream("gpt-4o-nousage", includeUsage: false), body);
        Assert.EndsWith(
            """{"model":"gpt-4o-nousage","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}""",
            fixture.Fake.Requests.Last(r => r.Body.Contains("gpt-4o-nousage", StringComparison.Ordinal)).Body,
            StringComparison.Ordinal
        );

        var row = Assert.Single(await fixture.AuditAsync("gpt-4o-nousage"));
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
    }

    [Theory]
    [InlineData(
        """{"model":"M","stream":true,"stream_options":{},"messages":[]}""",
        """{"model":"M","stream":true,"stream_options":{"include_usage":true},"messages":[]}"""
    )]
    [InlineData(
        """{"model":"M","stream":true,"stream_options":{"include_usage":false},"messages":[]}""",
        """{"model":"M","stream":true,"stream_options":{"include_usage":true},"messages":[]}"""
    )]
    [InlineData(
        """{"model":"M","stream_options":{"x":1},"stream":true,"messages":[]}""",
        """{"model":"M","stream_options":{"include_usage":true,"x":1},"stream":true,"messages":[]}"""
    )]
    [InlineData(
        """{"model":"M","stream":true,"stream_options":null,"messages":[]}""",
        """{"model":"M","stream":true,"stream_options":{"include_usage":true},"messages":[]}"""
    )]
    [InlineData("""{"model":"M","stream":false,"messages":[]}""", """{"model":"M","stream":false,"messages":[]}""")]
    public async Task Usage_is_asked_for_with_one_splice_whatever_the_client_sent(string sent, string forwarded)
    {
        var model = $"gpt-splice-{Guid.NewGuid():N}";
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/chat/completions")
        {
            Content = new StringContent(sent.Replace("\"M\"", $"\"{model}\"", StringComparison.Ordinal), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            forwarded.Replace("\"M\"", $"\"{model}\"", StringComparison.Ordinal),
            fixture.Fake.Requests.Last(r => r.Body.Contains(model, StringComparison.Ordinal)).Body
        );
        if (sent.Contains("\"stream\":true", StringComparison.Ordinal))
        {
            // Exactly the stream a client that did not ask for usage gets: every "usage":null cut out whatever its place
            // in the chunk (before another member, or first), and the injected usage chunk withheld.
            Assert.Equal(FakeProvider.OpenAiStream(model, includeUsage: false), body);
        }
        else
        {
            Assert.Contains("\"usage\":{\"prompt_tokens\":12", body, StringComparison.Ordinal);
        }

        Assert.Equal((12, 5), (await fixture.AuditAsync(model)).Select(r => (r.InputTokens, r.OutputTokens)).Single());
    }

    [Fact]
    public async Task A_stream_framed_with_crlf_bare_data_fields_and_multi_line_data_is_relayed_and_its_usage_counted()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/chat/completions")
        {
            Content = new StringContent("""{"model":"framing","stream":true,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);

        // The client did not ask for usage: "usage":null is cut from the one-line events (CRLF or not, with or without
        // the space after "data:"), the usage chunk is withheld even when its data spans two lines; an event whose data
        // spans lines is otherwise relayed as it came.
        var expected =
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\"choices\":[{\"index\":0,"
            + "\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\r\n\r\n"
            + "data:{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\"choices\":[{\"index\":0,"
            + "\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n"
            + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"framing\",\ndata: "
            + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\r\n\r\n"
            + "data: [DONE]\r\n\r\n";
        Assert.Equal(expected, await response.Content.ReadAsStringAsync(Ct));

        var row = Assert.Single(await fixture.AuditAsync("framing"));
        Assert.Equal("ok", row.Status);
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    [Fact]
    public async Task A_json_answer_that_arrives_in_pieces_split_inside_names_and_numbers_is_relayed_whole_and_counted_exactly()
    {
        var completion = (await Chat("json-pieces").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)).Value;

        Assert.Equal(FakeProvider.OpenAiText, completion.Content[0].Text);
        var row = Assert.Single(await fixture.AuditAsync("json-pieces"));
        Assert.Equal(("ok", FakeProvider.UsedModel("json-pieces")), (row.Status, row.UsedModel));
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
    }

    [Fact]
    public async Task An_error_object_inside_a_chat_stream_reaches_the_client_as_sent_and_is_audited_as_upstream_error()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/chat/completions")
        {
            Content = new StringContent(
                """{"model":"chat-error-midstream","stream":true,"stream_options":{"include_usage":true},"messages":[]}""",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);

        // No [DONE] follows the error: the stream still ends normally (not aborted), as the provider ended it.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(FakeProvider.ChatErrorStream, await response.Content.ReadAsStringAsync(Ct));

        var row = Assert.Single(await fixture.AuditAsync("chat-error-midstream"));
        Assert.Equal("upstream_error", row.Status);
        Assert.Contains("The server had an error while processing your request.", row.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_response_failed_event_after_a_200_reaches_the_client_as_sent_and_is_audited_as_upstream_error()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/responses")
        {
            Content = new StringContent("""{"model":"failed-midstream","stream":true,"input":"hi"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(string.Concat(FakeProvider.ResponsesFailedStream("failed-midstream")), await response.Content.ReadAsStringAsync(Ct));

        var row = Assert.Single(await fixture.AuditAsync("failed-midstream"));
        Assert.Equal("upstream_error", row.Status);
        Assert.Contains("The model failed to generate a response.", row.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_virtual_key_gets_401_in_openai_format_and_the_sdk_exception()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat("gpt-4o-wrongkey", key: "nope").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        );
        Assert.Equal(401, ex.Status);
        Assert.Contains("Incorrect API key", ex.Message, StringComparison.Ordinal);

        using var http = new HttpClient();
        using var response = await http.PostAsync(fixture.OpenAiBase() + "/chat/completions", new StringContent("{}", Encoding.UTF8, "application/json"), Ct);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var error = json.RootElement.GetProperty("error");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("gpt-4o-wrongkey", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(429, "Rate limit reached for requests")]
    [InlineData(500, "The server had an error")]
    [InlineData(400, "messages: field required")]
    public async Task Upstream_errors_are_relayed_in_format_and_recorded(int status, string message)
    {
        var model = $"fail-{status}";
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat(model).CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct));
        Assert.Equal(status, ex.Status);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        if (status == 429)
        {
            Assert.Equal("7", ex.GetRawResponse()?.Headers.TryGetValue("Retry-After", out var retry) == true ? retry : null);
        }

        var rows = await fixture.AuditAsync(model);
        Assert.Equal(status.ToString(System.Globalization.CultureInfo.InvariantCulture), rows[0].Status);
        Assert.Contains(message, rows[0].Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_cut_midway_breaks_the_client_stream_and_is_recorded_as_such()
    {
        var text = new StringBuilder();
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var update in Chat("cut").CompleteChatStreamingAsync([new UserChatMessage("hi")], cancellationToken: Ct))
            {
                foreach (var part in update.ContentUpdate)
                {
                    text.Append(part.Text);
                }
            }
        });

        Assert.Equal("Hello from", text.ToString());
        var row = Assert.Single(await fixture.AuditAsync("cut"));
        Assert.Equal("stream_cut", row.Status);
        Assert.NotNull(row.Error);
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_the_upstream_request()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase() + "/chat/completions")
        {
            Content = new StringContent("""{"model":"hang","stream":true,"messages":[]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var stream = await response.Content.ReadAsStreamAsync(Ct);
        var first = new byte[64];
        Assert.True(await stream.ReadAsync(first, Ct) > 0);

        response.Dispose();
        await fixture.Fake.HangAborted.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal("client_cancelled", Assert.Single(await fixture.AuditAsync("hang")).Status);
    }

    [Fact]
    public async Task Models_are_listed_through_the_proxy()
    {
        var client = new OpenAIModelClient(
            new ApiKeyCredential(LlmProxyFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase(), RetryPolicy = new ClientRetryPolicy(0) }
        );
        var models = (await client.GetModelsAsync(Ct)).Value;
        Assert.Equal("gpt-4o", Assert.Single(models).Id);
    }

    [Fact]
    public async Task Pass_through_forwards_the_clients_own_key_unchanged()
    {
        var completion = (
            await Chat("gpt-4o-byok", key: "sk-users-own-key", profile: "byok").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        ).Value;

        Assert.Equal(FakeProvider.OpenAiText, completion.Content[0].Text);
        Assert.Equal("Bearer sk-users-own-key", fixture.Fake.Requests.Last(r => r.Body.Contains("gpt-4o-byok", StringComparison.Ordinal)).Authorization);
        Assert.Equal("byok", Assert.Single(await fixture.AuditAsync("gpt-4o-byok")).Profile);
    }

    [Fact]
    public async Task Unknown_profiles_and_paths_get_404_in_openai_format()
    {
        using var http = new HttpClient();
        foreach (var path in new[] { "/v1/openai/nobody/chat/completions", "/v1/openai/team/audio/speech" })
        {
            using var response = await http.PostAsync(new Uri(fixture.Gateway.BaseUrl, path), new StringContent("{}", Encoding.UTF8, "application/json"), Ct);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("invalid_request_error", json.RootElement.GetProperty("error").GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task The_metrics_count_requests_tokens_and_durations()
    {
        await Chat("gpt-4o-metrics").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(fixture.Gateway.Server.MetricsUrl, "/metrics"), Ct);

        Assert.Contains("llm_requests_total{profile=\"team\",provider=\"openai\",model=\"gpt-4o-metrics\",status=\"ok\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("llm_tokens_total{profile=\"team\",provider=\"openai\",model=\"gpt-4o-metrics\",type=\"cached\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains(
            "llm_request_duration_seconds_count{profile=\"team\",provider=\"openai\",model=\"gpt-4o-metrics\"} 1\n",
            text,
            StringComparison.Ordinal
        );
        Assert.Contains("# TYPE llm_time_to_first_token_seconds histogram", text, StringComparison.Ordinal);
    }
}
