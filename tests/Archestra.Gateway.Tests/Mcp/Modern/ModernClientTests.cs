using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// MCP 2026-07-28 clients nobody here wrote (the v2 TypeScript SDK pinned and in auto mode, the C# SDK 2.4.0 at
/// 2026-07-28) through the gateway against the existing 2025 upstreams of profile "mixed", and the result shapes they read.
/// </summary>
public sealed class ModernClientTests : IClassFixture<EverythingFixture>
{
    private static readonly HttpClient Http = new();
    private readonly EverythingFixture _fixture;

    public ModernClientTests(EverythingFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("pin")]
    [InlineData("auto")]
    public async Task The_v2_typescript_client_speaks_2026_07_28_statelessly_through_the_gateway(string mode)
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-modern.mjs"), _fixture.Gateway.McpUrl("mixed").ToString(), mode],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);

        var result = JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal("modern", result.GetProperty("era").GetString());
        Assert.Equal("2026-07-28", result.GetProperty("protocolVersion").GetString());
        Assert.Equal("archestra", result.GetProperty("server").GetString());
        var tools = result.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Contains("local__echo", tools);
        Assert.Contains("remote__echo", tools);
        Assert.Equal("Echo: from-modern", result.GetProperty("echo").GetString());
        Assert.Equal([1, 2, 3], result.GetProperty("progress").EnumerateArray().Select(p => p.GetInt32()).ToArray());
        Assert.StartsWith("demo://", result.GetProperty("read").GetString(), StringComparison.Ordinal);

        // Every request was a modern POST with its routing headers; no session was sent or minted, no initialize was tried.
        var wire = result.GetProperty("wire").EnumerateArray().ToList();
        Assert.Equal("server/discover", wire[0].GetProperty("mcpMethod").GetString());
        Assert.All(wire, w =>
        {
            Assert.Equal("POST", w.GetProperty("method").GetString());
            Assert.Equal("2026-07-28", w.GetProperty("protocolVersion").GetString());
            Assert.Equal(200, w.GetProperty("status").GetInt32());
            Assert.Equal(JsonValueKind.Null, w.GetProperty("session").ValueKind);
            Assert.Equal(JsonValueKind.Null, w.GetProperty("responseSession").ValueKind);
        });
        Assert.Contains(wire, w => w.GetProperty("mcpName").GetString() == "local__echo");
    }

    [Fact]
    public async Task The_csharp_sdk_client_at_2026_07_28_lists_and_calls_through_the_gateway()
    {
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl("mixed"), TransportMode = HttpTransportMode.StreamableHttp }
        );
        await using var client = await McpClient.CreateAsync(transport, new McpClientOptions { ProtocolVersion = "2026-07-28" }, cancellationToken: Ct);
        Assert.Equal("2026-07-28", client.NegotiatedProtocolVersion);
        Assert.Null(client.SessionId);

        var tools = await client.ListToolsAsync(cancellationToken: Ct);
        Assert.Contains(tools, t => t.Name == "remote__get-sum");
        var sum = await client.CallToolAsync("remote__get-sum", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 40 }, cancellationToken: Ct);
        Assert.NotEqual(true, sum.IsError);
        Assert.Contains("42", string.Join("\n", sum.Content.OfType<TextContentBlock>().Select(t => t.Text)), StringComparison.Ordinal);

        var prompts = await client.ListPromptsAsync(cancellationToken: Ct);
        Assert.Contains(prompts, p => p.Name.StartsWith("local__", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Results_carry_result_type_and_lists_and_reads_carry_cache_hints()
    {
        var url = _fixture.Gateway.McpUrl("mixed");
        var discover = (await ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(1, "server/discover"), "server/discover"))).Message.GetProperty(
            "result"
        );
        Assert.Equal("complete", discover.GetProperty("resultType").GetString());
        Assert.Equal("archestra", discover.GetProperty("_meta").GetProperty("io.modelcontextprotocol/serverInfo").GetProperty("name").GetString());
        Assert.True(discover.GetProperty("capabilities").TryGetProperty("tools", out _));
        AssertCacheHints(discover);

        foreach (var method in new[] { "tools/list", "prompts/list", "resources/list", "resources/templates/list" })
        {
            var list = (await ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(2, method), method))).Message.GetProperty("result");
            Assert.Equal("complete", list.GetProperty("resultType").GetString());
            AssertCacheHints(list);
        }

        var uri = "demo://resource/static/document/architecture.md";
        var read = (
            await ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(3, "resources/read", $"\"uri\":\"{uri}\""), "resources/read", uri))
        ).Message;
        Assert.Equal(uri, read.GetProperty("result").GetProperty("contents")[0].GetProperty("uri").GetString());
        Assert.Equal("complete", read.GetProperty("result").GetProperty("resultType").GetString());
        AssertCacheHints(read.GetProperty("result"));

        var call = (
            await ModernRaw.SendAsync(
                Http,
                ModernRaw.Post(url, ModernRaw.Body(4, "tools/call", "\"name\":\"local__echo\",\"arguments\":{\"message\":\"m\"}"), "tools/call", "local__echo")
            )
        ).Message;
        Assert.Equal("complete", call.GetProperty("result").GetProperty("resultType").GetString());
        Assert.False(call.GetProperty("result").TryGetProperty("ttlMs", out _));

        // SEP-2164: a resource no server lists is -32602 with the uri in data, never the legacy -32002.
        var missing = "test://nowhere";
        var (status, notFound) = await ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(url, ModernRaw.Body(5, "resources/read", $"\"uri\":\"{missing}\""), "resources/read", missing)
        );
        Assert.Equal(200, status);
        Assert.Equal(-32602, RawMcp.ErrorCode(notFound));
        Assert.Equal(missing, notFound.GetProperty("error").GetProperty("data").GetProperty("uri").GetString());
    }

    private static void AssertCacheHints(JsonElement result)
    {
        Assert.Equal(JsonValueKind.Number, result.GetProperty("ttlMs").ValueKind);
        Assert.True(result.GetProperty("ttlMs").GetInt32() >= 0);
        Assert.Contains(result.GetProperty("cacheScope").GetString(), new[] { "public", "private" });
    }
}
