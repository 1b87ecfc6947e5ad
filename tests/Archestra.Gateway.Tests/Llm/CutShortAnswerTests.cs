using System.Net.Http.Headers;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// A provider answer that declares more bytes than it sends: the client's connection is cut (the status already
/// went out), and the log and the audit row say what happened in the gateway's own words, not the framework's
/// message (a bare resource key under NativeAOT).
/// </summary>
public sealed class CutShortAnswerTests
{
    [Fact]
    public async Task A_provider_answer_cut_short_is_recorded_with_a_sentence_that_says_so()
    {
        await using var provider = new RawHttpServer(_ => RawHttpAnswer.CutShort("""{"id":"chat""", 100));
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                LlmProviders =
                [
                    new LlmProviderConfig
                    {
                        Name = "cutter",
                        Kind = LlmProviderKind.OpenAi,
                        BaseUrl = provider.Url,
                        ApiKey = "sk-x",
                        Resilience = new LlmResilienceConfig { Retries = 0 },
                    },
                ],
                Profiles =
                [
                    new ProfileConfig
                    {
                        Name = "p",
                        Servers = [],
                        Llm = new ProfileLlmConfig { OpenAi = "cutter", PassThrough = true },
                    },
                ],
            }
        );

        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.BaseUrl, "/v1/openai/p/chat/completions"))
        {
            Content = new StringContent("""{"model":"cut-model","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-client");
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        });

        var row = Assert.Single(await LlmProxyFixture.AuditAsync(gateway, "cut-model"));
        Assert.Equal("stream_cut", row.Status);
        Assert.Equal("the upstream answer broke off: the answer was cut short: the connection closed before the whole response arrived", row.Error);
    }
}
