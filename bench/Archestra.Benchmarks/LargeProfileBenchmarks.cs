using System.Net;
using System.Text;
using System.Text.Json;
using Archestra.Gateway;
using Archestra.Gateway.Configuration;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Archestra.Benchmarks;

/// <summary>
/// A profile with 5,000 tools (5 servers × 1,000, one of them narrowed by a tool selection to 500), served by the whole
/// gateway in this process over loopback HTTP: <c>tools/list</c> (every page, as a client reads it) and
/// <c>archestra__search_tools</c>, against <c>ping</c> through the same client and gateway (what HTTP and JSON-RPC cost
/// alone). The upstreams are a canned in-process Streamable HTTP server, hit only while the lists warm up.
/// </summary>
[MemoryDiagnoser]
public class LargeProfileBenchmarks
{
    public const int Servers = 5;
    public const int ToolsPerServer = 1_000;

    private static readonly string[] s_verbs = ["get", "list", "create", "update", "delete", "search", "sync", "export"];
    private static readonly string[] s_things = ["issue", "repository", "invoice", "customer", "ticket", "document", "build", "alert"];

    private GatewayServer _gateway = null!;
    private WebApplication _upstream = null!;
    private HttpClient _client = null!;
    private Uri _endpoint = null!;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _upstream = builder.Build();
        var lists = Enumerable.Range(0, Servers).Select(ToolList).ToArray();
        _upstream.Run(context => AnswerAsync(context, lists));
        await _upstream.StartAsync();
        var upstreamUrl = _upstream.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();

        var config = new GatewayConfig
        {
            Listen = new ListenConfig
            {
                Gateway = "http://127.0.0.1:0",
                Admin = "http://127.0.0.1:0",
                Metrics = "http://127.0.0.1:0",
            },
            McpServers =
            [
                .. Enumerable
                    .Range(0, Servers)
                    .Select(i => new McpServerConfig
                    {
                        Name = $"s{i}",
                        Kind = McpServerKind.StreamableHttp,
                        Url = new Uri($"{upstreamUrl}/mcp/{i}"),
                    }),
            ],
            Profiles =
            [
                new ProfileConfig
                {
                    Name = "big",
                    Servers = [.. Enumerable.Range(0, Servers).Select(i => $"s{i}")],
                    ToolSelection = new Dictionary<string, ToolSelectionConfig> { ["s0"] = new(null, ["delete_*", "update_*", "sync_*", "export_*"]) },
                },
            ],
            Storage = new StorageConfig { DataDirectory = Directory.CreateTempSubdirectory("archestra-bench-").FullName },
        };
        _gateway = await GatewayServer.StartAsync(config, CancellationToken.None, logging => logging.SetMinimumLevel(LogLevel.Warning));
        _client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1 });
        _endpoint = new Uri(_gateway.GatewayUrl, "/v1/mcp/big");

        // Until every server has listed its tools, the first list waits on the upstreams.
        for (var attempt = 0; ListAll() != 4_503; attempt++)
        {
            if (attempt == 200)
            {
                throw new InvalidOperationException($"the profile lists {ListAll()} tools, expected 4,500 and the 3 built-ins");
            }

            await Task.Delay(50);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _gateway.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _upstream.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Every page of tools/list (500 per page): returns the number of tools listed.</summary>
    [Benchmark]
    public int ListAll()
    {
        var count = 0;
        string? cursor = null;
        do
        {
            var body = cursor is null
                ? """{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""
                : "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"cursor\":\"" + cursor + "\"}}";
            using var doc = Post(body);
            var result = doc.RootElement.GetProperty("result");
            count += result.GetProperty("tools").GetArrayLength();
            cursor = result.TryGetProperty("nextCursor", out var next) ? next.GetString() : null;
        } while (cursor is not null);

        return count;
    }

    [Benchmark]
    public int SearchTools()
    {
        using var doc = Post(
            """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"archestra__search_tools","arguments":{"query":"search invoice"}}}"""
        );
        return doc.RootElement.GetProperty("result").GetProperty("structuredContent").GetProperty("matched").GetInt32();
    }

    [Benchmark(Baseline = true)]
    public int Ping()
    {
        using var doc = Post("""{"jsonrpc":"2.0","id":1,"method":"ping"}""");
        return doc.RootElement.GetProperty("result").ValueKind == JsonValueKind.Object ? 1 : 0;
    }

    private JsonDocument Post(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
        using var response = _client.Send(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{(int)response.StatusCode} for {body}");
        }

        using var stream = response.Content.ReadAsStream();
        return JsonDocument.Parse(stream);
    }

    /// <summary>A server's tools/list result: 1,000 tools named and described from a small vocabulary, like a SaaS API's.</summary>
    private static byte[] ToolList(int server)
    {
        var json = new StringBuilder("{\"tools\":[");
        for (var i = 0; i < ToolsPerServer; i++)
        {
            var verb = s_verbs[i % s_verbs.Length];
            var thing = s_things[i / s_verbs.Length % s_things.Length];
            json.Append(i == 0 ? "" : ",")
                .Append($"{{\"name\":\"{verb}_{thing}_{i:D4}\",\"description\":\"{char.ToUpperInvariant(verb[0])}{verb[1..]}s one {thing} ")
                .Append($"of account {i % 37} on server {server}.\",\"inputSchema\":{{\"type\":\"object\",\"properties\":")
                .Append("{\"id\":{\"type\":\"string\"},\"fields\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}");
        }

        return Encoding.UTF8.GetBytes(json.Append("]}").ToString());
    }

    private static ReadOnlySpan<byte> NotFound => "\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}"u8;

    private static async Task AnswerAsync(HttpContext context, byte[][] lists)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        var server = int.Parse(context.Request.Path.Value!["/mcp/".Length..], System.Globalization.CultureInfo.InvariantCulture);
        using var doc = await JsonDocument.ParseAsync(context.Request.Body);
        var root = doc.RootElement;
        if (!root.TryGetProperty("id", out var id))
        {
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        var method = root.GetProperty("method").GetString();
        var result = method switch
        {
            "initialize" => Encoding.UTF8.GetBytes(
                """{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"bench-upstream","version":"1"}}"""
            ),
            "tools/list" => lists[server],
            "ping" => "{}"u8.ToArray(),
            _ => null,
        };
        context.Response.ContentType = "application/json";
        var head = Encoding.UTF8.GetBytes($"{{\"jsonrpc\":\"2.0\",\"id\":{id.GetRawText()},");
        await context.Response.Body.WriteAsync(head);
        await context.Response.Body.WriteAsync(result is null ? NotFound.ToArray() : [.. "\"result\":"u8, .. result, .. "}"u8]);
    }
}
