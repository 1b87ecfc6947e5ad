using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// SEP-2243's Mcp-Param-* headers on a tool whose schema marks an argument with x-mcp-header (the C# fixture's
/// test_param_header over stdio, in its 2025 revision, which checks no header): the gateway, as the server a modern client
/// talks to, checks them against the body, behind a two-server profile whose tool names are namespaced.
/// </summary>
public sealed class ModernParamHeaderTests : IAsyncLifetime
{
    private const string Tool = "fx__test_param_header";

    private static readonly HttpClient Http = new();
    private GatewayHarness _gateway = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers =
                [
                    GatewayHarness.Stdio("fx", "dotnet", Repo.FixtureDll, "--stdio"),
                    GatewayHarness.Stdio("other", "dotnet", Repo.FixtureDll, "--stdio"),
                ],
                Profiles = [GatewayHarness.Profile("p", "fx", "other")],
            }
        );
    }

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<(int Status, JsonElement Message)> CallAsync(int id, string region, params (string Name, string Value)[] headers)
    {
        var request = ModernRaw.Post(
            _gateway.McpUrl("p"),
            ModernRaw.Body(id, "tools/call", $"\"name\":\"{Tool}\",\"arguments\":{{\"region\":{region}}}"),
            "tools/call",
            Tool
        );
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await ModernRaw.SendAsync(Http, request);
    }

    [Fact]
    public async Task Mcp_param_headers_that_disagree_with_the_body_are_refused_with_400_and_never_reach_the_server()
    {
        // The listing the gateway checks against, with the annotation as the server wrote it.
        var (_, listed) = await ModernRaw.SendAsync(Http, ModernRaw.Post(_gateway.McpUrl("p"), ModernRaw.Body(1, "tools/list"), "tools/list"));
        var tool = listed.GetProperty("result").GetProperty("tools").EnumerateArray().Single(t => t.GetProperty("name").GetString() == Tool);
        Assert.Equal("Region", tool.GetProperty("inputSchema").GetProperty("properties").GetProperty("region").GetProperty("x-mcp-header").GetString());

        // Agreeing: plain, Base64 ("eu-west"), and a value without the exact wrapper, which is literal.
        foreach (
            var (header, body) in new[] { ("eu-west", "eu-west"), ("=?base64?ZXUtd2VzdA==?=", "eu-west"), ("=?base64?ZXUtd2VzdA==", "=?base64?ZXUtd2VzdA==") }
        )
        {
            var (status, answer) = await CallAsync(2, JsonSerializer.Serialize(body), ("Mcp-Param-Region", header));
            Assert.True(status == 200, answer.ToString());
            Assert.Equal($"region={body}", answer.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
        }

        // Disagreeing, missing, or not Base64 (bad padding, a character outside the alphabet): refused by the gateway; the
        // fixture in its 2025 revision would have answered every one of them.
        foreach (
            var headers in new (string, string)[][]
            {
                [("Mcp-Param-Region", "us-east")],
                [],
                [("Mcp-Param-Region", "=?base64?ZXUtd2VzdA?=")],
                [("Mcp-Param-Region", "=?base64?ZXUt!!d2VzdA==?=")],
            }
        )
        {
            var (status, refused) = await CallAsync(3, "\"eu-west\"", headers);
            Assert.Equal(400, status);
            Assert.Equal(-32020, RawMcp.ErrorCode(refused));
            Assert.Contains("Mcp-Param-Region", RawMcp.ErrorMessage(refused), StringComparison.Ordinal);
        }

        // A null argument needs no header (and a header name is case-insensitive).
        var (nullStatus, nullAnswer) = await CallAsync(4, "null");
        Assert.True(nullStatus == 200, nullAnswer.ToString());
        var (caseStatus, _) = await CallAsync(5, "\"eu-west\"", ("mcp-param-region", "eu-west"));
        Assert.Equal(200, caseStatus);
    }
}
