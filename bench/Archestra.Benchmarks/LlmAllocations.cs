using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Archestra.Gateway;
using Archestra.Gateway.Configuration;
using Microsoft.Extensions.Logging;

namespace Archestra.Benchmarks;

/// <summary>
/// Allocated bytes and time per non-streamed chat completion through the LLM proxy: the gateway runs in this
/// process, the OpenAI-compatible upstream in another (any server answering POST /v1/chat/completions), and
/// the same client sends the same requests direct and through the gateway; the difference is the proxy's.
/// </summary>
internal static class LlmAllocations
{
    private static readonly byte[] s_body = Encoding.UTF8.GetBytes("""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}""");

    public static async Task<int> RunAsync(Uri upstream, int requests, int retries, TextWriter output)
    {
        var config = new GatewayConfig
        {
            Listen = new ListenConfig { Gateway = "http://127.0.0.1:0", Admin = "http://127.0.0.1:0", Metrics = "http://127.0.0.1:0" },
            LlmProviders = [new LlmProviderConfig { Name = "up", Kind = LlmProviderKind.OpenAi, BaseUrl = new Uri(upstream, "/v1"), ApiKey = "sk-bench" }.WithRetries(retries)],
            Profiles = [new ProfileConfig { Name = "bench", Servers = [], Llm = new ProfileLlmConfig { OpenAi = "up" } }],
            Storage = new StorageConfig { DataDirectory = Directory.CreateTempSubdirectory("archestra-bench-").FullName },
        };
        await using var server = await GatewayServer.StartAsync(config, CancellationToken.None, logging =>
        {
            logging.SetMinimumLevel(LogLevel.Warning);
            logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        });
        var direct = new Uri(upstream, "/v1/chat/completions");
        var gateway = new Uri(server.GatewayUrl, "/v1/openai/bench/chat/completions");
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1 });

        await SendAsync(client, direct, requests / 4);
        await SendAsync(client, gateway, requests / 4);
        (long Bytes, double Micros) best = (long.MaxValue, double.MaxValue), bestDirect = (long.MaxValue, double.MaxValue);
        for (var round = 0; round < 3; round++)
        {
            var d = await MeasureAsync(client, direct, requests);
            var g = await MeasureAsync(client, gateway, requests);
            bestDirect = (Math.Min(bestDirect.Bytes, d.Bytes), Math.Min(bestDirect.Micros, d.Micros));
            best = (Math.Min(best.Bytes, g.Bytes), Math.Min(best.Micros, g.Micros));
        }

        output.WriteLine($"requests per round: {requests}; provider retries: {retries}");
        output.WriteLine($"direct:          {bestDirect.Bytes / requests,7} B/request {bestDirect.Micros,8:F1} µs/request");
        output.WriteLine($"through gateway: {best.Bytes / requests,7} B/request {best.Micros,8:F1} µs/request");
        output.WriteLine($"the proxy's share: {(best.Bytes - bestDirect.Bytes) / requests} B/request, {best.Micros - bestDirect.Micros:F1} µs/request");
        return 0;
    }

    private static LlmProviderConfig WithRetries(this LlmProviderConfig provider, int retries) =>
        provider with { Resilience = provider.Resilience with { Retries = retries } };

    private static async Task<(long Bytes, double Micros)> MeasureAsync(HttpClient client, Uri url, int requests)
    {
        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var start = Stopwatch.GetTimestamp();
        await SendAsync(client, url, requests);
        var micros = Stopwatch.GetElapsedTime(start).TotalMicroseconds / requests;
        return (GC.GetTotalAllocatedBytes(precise: true) - before, micros);
    }

    private static async Task SendAsync(HttpClient client, Uri url, int requests)
    {
        for (var i = 0; i < requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(s_body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-client");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"{url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }
    }
}
