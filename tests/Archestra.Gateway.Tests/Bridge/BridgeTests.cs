using System.Net;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Bridge;

/// <summary>
/// <c>archestra bridge</c> as a pod runs it: the real binary in front of the real stdio server-everything, used by the
/// official TypeScript and C# SDK clients over Streamable HTTP.
/// </summary>
public sealed class BridgeTests : IAsyncLifetime
{
    private readonly int _port = Repo.FreePort();
    private ExternalProcess _bridge = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Uri Url => new($"http://127.0.0.1:{_port}/mcp");

    public async ValueTask InitializeAsync()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "archestra.dll");
        _bridge = ExternalProcess.Start("dotnet", [dll, "bridge", "--listen", $"http://127.0.0.1:{_port}", "--", Repo.Node, Repo.Everything, "stdio"]);
        await _bridge.WaitForPortAsync(_port, TimeSpan.FromSeconds(60));
        using var http = new HttpClient();
        for (var i = 0; (await http.GetAsync(new Uri($"http://127.0.0.1:{_port}/readyz"), Ct)).StatusCode != HttpStatusCode.OK; i++)
        {
            Assert.True(i < 600, "the bridge was not ready within 60 s:\n" + _bridge.Output);
            await Task.Delay(100, Ct);
        }
    }

    public async ValueTask DisposeAsync() => await _bridge.DisposeAsync();

    [Fact]
    public async Task The_typescript_client_sees_the_servers_own_names_and_gets_progress_and_sampling()
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client.mjs"), Url.ToString(), "", ""],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output + "\n--- bridge ---\n" + _bridge.Output);

        var result = JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        var tools = result.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Contains("echo", tools);
        Assert.Contains("trigger-sampling-request", tools);
        Assert.DoesNotContain(tools, t => t!.Contains("__", StringComparison.Ordinal));
        Assert.Equal("Echo: from-ts", result.GetProperty("echo").GetString());
        Assert.Equal([1, 2, 3], result.GetProperty("progress").EnumerateArray().Select(p => p.GetInt32()).ToArray());
        Assert.Equal(1, result.GetProperty("samplingRequests").GetInt32());
        Assert.Contains("ts-sampled<", result.GetProperty("sampling").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_sessions_share_one_server_process_and_each_gets_its_own_answers()
    {
        async Task<string[]> SessionAsync(string name)
        {
            await using var client = await McpClient.CreateAsync(
                new HttpClientTransport(new HttpClientTransportOptions { Endpoint = Url, TransportMode = HttpTransportMode.StreamableHttp }),
                cancellationToken: Ct
            );
            var calls = Enumerable
                .Range(0, 20)
                .Select(async i =>
                {
                    var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = $"{name}-{i}" }, cancellationToken: Ct);
                    return Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
                });
            return await Task.WhenAll(calls);
        }

        var answers = await Task.WhenAll(SessionAsync("a"), SessionAsync("b"), SessionAsync("c"));
        foreach (var (name, texts) in new[] { "a", "b", "c" }.Zip(answers))
        {
            Assert.Equal(Enumerable.Range(0, 20).Select(i => $"Echo: {name}-{i}"), texts);
        }

        Assert.Single(_bridge.Output.Split('\n'), l => l.Contains("started as process", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_sees_what_the_servers_own_http_mode_shows_no_built_ins_and_unlisted_tools_answered_by_the_server()
    {
        await using var client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = Url, TransportMode = HttpTransportMode.StreamableHttp }),
            cancellationToken: Ct
        );
        var tools = (await client.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).ToList();
        Assert.Contains("echo", tools);
        Assert.DoesNotContain(tools, t => t.StartsWith("archestra__", StringComparison.Ordinal));

        // The gateway would refuse a name its list lacks (-32602 from the gateway); the bridge leaves that to the server,
        // and server-everything answers it as a tool error of its own.
        var result = await client.CallToolAsync("no-such-tool", new Dictionary<string, object?>(), cancellationToken: Ct);
        Assert.True(result.IsError);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.Contains("no-such-tool", text, StringComparison.Ordinal);
        Assert.DoesNotContain("MCP server 'server'", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_and_readiness_answer_and_other_paths_do_not_exist()
    {
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri($"http://127.0.0.1:{_port}/healthz"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri($"http://127.0.0.1:{_port}/readyz"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri($"http://127.0.0.1:{_port}/v1/mcp/bridge"), Ct)).StatusCode);

        // A request for a session that does not exist is refused the way the gateway refuses it.
        using var request = new HttpRequestMessage(HttpMethod.Post, Url)
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        request.Headers.Add("Mcp-Session-Id", "not-a-session");
        var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
