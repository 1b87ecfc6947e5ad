using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>The official TypeScript SDK client (npm @modelcontextprotocol/sdk) through the gateway.</summary>
public sealed class TypeScriptClientTests : IClassFixture<EverythingFixture>
{
    private readonly EverythingFixture _fixture;

    public TypeScriptClientTests(EverythingFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task The_typescript_client_lists_calls_gets_progress_and_answers_sampling()
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client.mjs"), _fixture.Gateway.McpUrl("mixed").ToString()],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);

        var json = process.Output.Split('\n').Last(l => l.StartsWith('{'));
        var result = JsonDocument.Parse(json).RootElement;
        Assert.Equal("2025-11-25", result.GetProperty("protocolVersion").GetString());
        Assert.Matches("^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{22}$", result.GetProperty("sessionId").GetString());
        var tools = result.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Contains("local__echo", tools);
        Assert.Contains("remote__echo", tools);
        Assert.Equal("Echo: from-ts", result.GetProperty("echo").GetString());
        Assert.Equal([1, 2, 3], result.GetProperty("progress").EnumerateArray().Select(p => p.GetInt32()).ToArray());
        Assert.Equal(1, result.GetProperty("samplingRequests").GetInt32());
        Assert.Contains("ts-sampled<", result.GetProperty("sampling").GetString(), StringComparison.Ordinal);
        Assert.Contains("ts-model", result.GetProperty("sampling").GetString(), StringComparison.Ordinal);
    }
}
