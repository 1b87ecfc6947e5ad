using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// Streams whose lines end in CR or CRLF (both allowed by the event-stream format, WHATWG HTML § 9.2.6), arriving a few
/// bytes at a time: the proxy finds the same events, relays them byte for byte (less what the client did not ask for),
/// sees the stream's end and counts its usage.
/// </summary>
public sealed class StreamLineEndTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("cr")]
    [InlineData("crlf")]
    public async Task A_chat_stream_with_CR_or_CRLF_line_ends_reaches_a_client_that_did_not_ask_for_usage_as_asked_and_its_usage_is_counted(string lineEnd)
    {
        var model = "gpt-4o-eol-" + lineEnd;
        var (status, body) = await PostAsync(
            new Uri(fixture.OpenAiBase() + "/chat/completions"),
            $$"""{"model":"{{model}}","stream":true,"messages":[{"role":"user","content":"hi"}]}""",
            static headers => headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey)
        );

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(FakeProvider.OpenAiStream(model, includeUsage: false).Replace("\n", Eol(lineEnd), StringComparison.Ordinal), body);

        var row = Assert.Single(await fixture.AuditAsync(model));
        Assert.Equal(("ok", FakeProvider.UsedModel(model)), (row.Status, row.UsedModel));
        Assert.Equal((12, 5, 4, 2), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    [Theory]
    [InlineData("cr")]
    [InlineData("crlf")]
    public async Task A_messages_stream_with_CR_or_CRLF_line_ends_reaches_the_client_byte_for_byte_and_its_usage_is_counted(string lineEnd)
    {
        var model = "claude-eol-" + lineEnd;
        var (status, body) = await PostAsync(
            new Uri(fixture.AnthropicBase() + "/v1/messages"),
            $$"""{"model":"{{model}}","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}""",
            static headers =>
            {
                headers.Add("x-api-key", LlmProxyFixture.VirtualKey);
                headers.Add("anthropic-version", "2023-06-01");
            }
        );

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(FakeProvider.AnthropicStream().Replace("\n", Eol(lineEnd), StringComparison.Ordinal), body);

        var row = Assert.Single(await fixture.AuditAsync(model));
        Assert.Equal("ok", row.Status);
        Assert.Equal((30, 9, 7), (row.InputTokens, row.OutputTokens, row.CachedInputTokens));
        Assert.NotNull(row.TimeToFirstTokenMicroseconds);
    }

    private static string Eol(string name) => name == "cr" ? "\r" : "\r\n";

    /// <summary>Posts a JSON body the way a client without an SDK would, and reads the whole answer as text.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> PostAsync(Uri url, string json, Action<HttpRequestHeaders> authorize)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        authorize(request.Headers);
        using var response = await http.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }
}
