using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway;
using Archestra.Gateway.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Archestra.Benchmarks;

/// <summary>
/// Allocated bytes per proxied non-streamed chat completion: the load upstream's chat completions endpoint
/// (<c>bench/Archestra.LoadUpstream/ChatCompletions.cs</c>) and the gateway both run in this process on loopback;
/// the same client sends the same completion direct and through <c>/v1/openai/bench</c> (virtual key, usage and
/// price read, one audit row in embedded SQLite), and <see cref="GC.GetTotalAllocatedBytes(bool)"/> around each
/// run gives the difference: the gateway's share, including its audit writer thread. Least of three rounds.
/// <para>
/// Translated (<c>llm.chat-completion-translated</c>): the same chat completion with the model <c>claude/claude-haiku-4-5</c>
/// goes through the unified endpoint to an Anthropic messages endpoint in this process, compared with the client sending
/// the equivalent messages request direct.
/// </para>
/// </summary>
internal static class LlmAllocations
{
    private const string VirtualKey = "vk-bench-0123456789";

    private static ReadOnlySpan<byte> Body => """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}"""u8;

    private static ReadOnlySpan<byte> TranslatedBody => """{"model":"claude/claude-haiku-4-5","messages":[{"role":"user","content":"Say hello"}]}"""u8;

    private static ReadOnlySpan<byte> MessagesBody =>
        """{"model":"claude-haiku-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}"""u8;

    // Anthropic "Messages" response shape, the same text and token counts as the load upstream's completion.
    private static readonly byte[] s_message = Encoding.UTF8.GetBytes(
        """{"id":"msg_load","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":"""
            + """[{"type":"text","text":"Hello from the load upstream"}],"stop_reason":"end_turn","stop_sequence":null,"usage":"""
            + """{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":5}}"""
    );

    private static async Task MessagesAsync(Microsoft.AspNetCore.Http.HttpContext context)
    {
        await context.Request.Body.CopyToAsync(Stream.Null);
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(s_message);
    }

    /// <summary>The gateway's bytes per completion.</summary>
    public static async Task<long> MeasureAsync(int requests, TextWriter? output, bool translated = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var upstream = builder.Build();
        upstream.MapPost("/v1/chat/completions", Archestra.LoadUpstream.ChatCompletions.PostAsync);
        upstream.MapPost("/v1/messages", MessagesAsync);
        await upstream.StartAsync();
        var upstreamBase = new Uri(upstream.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());

        var config = new GatewayConfig
        {
            Listen = new ListenConfig
            {
                Gateway = "http://127.0.0.1:0",
                Admin = "http://127.0.0.1:0",
                Metrics = "http://127.0.0.1:0",
            },
            LlmProviders =
            [
                new LlmProviderConfig
                {
                    Name = "up",
                    Kind = LlmProviderKind.OpenAi,
                    BaseUrl = new Uri(upstreamBase, "/v1"),
                    ApiKey = "sk-bench",
                },
                new LlmProviderConfig
                {
                    Name = "claude",
                    Kind = LlmProviderKind.Anthropic,
                    BaseUrl = upstreamBase,
                    ApiKey = "sk-ant-bench",
                },
            ],
            Profiles =
            [
                new ProfileConfig
                {
                    Name = "bench",
                    Servers = [],
                    Llm = new ProfileLlmConfig
                    {
                        OpenAi = "up",
                        Anthropic = "claude",
                        VirtualKeyHashes = [SHA256.HashData(Encoding.UTF8.GetBytes(VirtualKey))],
                    },
                },
            ],
            Storage = new StorageConfig { DataDirectory = Directory.CreateTempSubdirectory("archestra-bench-").FullName },
        };
        await using var server = await GatewayServer.StartAsync(config, CancellationToken.None, logging => logging.SetMinimumLevel(LogLevel.Error));
        var direct = new Uri(upstreamBase, translated ? "/v1/messages" : "/v1/chat/completions");
        var gateway = new Uri(server.GatewayUrl, "/v1/openai/bench/chat/completions");

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1 });
        var directBody = (translated ? MessagesBody : Body).ToArray();
        var body = (translated ? TranslatedBody : Body).ToArray();
        await SendAsync(client, direct, directBody, requests / 4);
        await SendAsync(client, gateway, body, requests / 4);

        long least = long.MaxValue,
            directLeast = long.MaxValue,
            throughLeast = long.MaxValue;
        for (var round = 0; round < 3; round++)
        {
            var directBytes = await AllocatedAsync(client, direct, directBody, requests);
            var throughBytes = await AllocatedAsync(client, gateway, body, requests);
            directLeast = Math.Min(directLeast, directBytes);
            throughLeast = Math.Min(throughLeast, throughBytes);
            least = Math.Min(least, throughBytes - directBytes);
        }

        output?.WriteLine($"requests per round:                 {requests}");
        output?.WriteLine($"client + upstream, direct:          {directLeast / requests, 7} B/completion");
        output?.WriteLine($"client + upstream, through gateway: {throughLeast / requests, 7} B/completion");
        output?.WriteLine($"the gateway's share:                {least / requests, 7} B/completion");
        return least / requests;
    }

    private static async Task<long> AllocatedAsync(HttpClient client, Uri url, byte[] body, int requests)
    {
        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await SendAsync(client, url, body, requests);
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    private static async Task SendAsync(HttpClient client, Uri url, byte[] body, int requests)
    {
        for (var i = 0; i < requests; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", VirtualKey);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK || !text.Contains("Hello from the load upstream", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{url} answered {(int)response.StatusCode}: {text}");
            }
        }
    }
}
