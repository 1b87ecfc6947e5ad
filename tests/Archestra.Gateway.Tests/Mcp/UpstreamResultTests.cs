using System.Net;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>
/// MCP requires a response's <c>result</c> to be an object (schema: <c>Result</c>); an upstream that answers
/// with a string, null or an array broke the protocol, and the client gets -32012 naming the server instead of
/// a relayed answer it cannot use.
/// </summary>
public sealed class UpstreamResultTests
{
    private static readonly HttpClient Http = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>"bad" answers every request but the lists with <paramref name="result"/>; "badlist" answers the lists with it.</summary>
    private static Task<GatewayHarness> StartAsync(string result) =>
        GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers =
                [
                    GatewayHarness.Stdio("bad", Repo.Node, Repo.Asset("bad-result-server.mjs"), result, "calls"),
                    GatewayHarness.Stdio("badlist", Repo.Node, Repo.Asset("bad-result-server.mjs"), result, "lists"),
                ],
                // Without the built-in tools, so the aggregated lists hold only the servers' items.
                Profiles = [GatewayHarness.Profile("p", "bad", "badlist") with { BuiltinTools = BuiltinToolsMode.Off }],
            }
        );

    private static async Task<JsonElement> SendAsync(GatewayHarness gateway, string body)
    {
        using var response = await Http.SendAsync(RawMcp.Post(gateway.McpUrl("p"), body), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await RawMcp.ReadMessageAsync(response);
    }

    private static void AssertProtocolError(JsonElement message, int id)
    {
        Assert.True(message.TryGetProperty("error", out _), message.GetRawText());
        Assert.Equal(id, message.GetProperty("id").GetInt32());
        Assert.Equal(-32012, RawMcp.ErrorCode(message));
        var text = RawMcp.ErrorMessage(message);
        Assert.Contains("'bad'", text, StringComparison.Ordinal);
        Assert.Contains("not an object", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"x\"")]
    [InlineData("null")]
    [InlineData("[1]")]
    public async Task A_result_that_is_not_an_object_is_answered_with_upstream_protocol_error_naming_the_server(string result)
    {
        await using var gateway = await StartAsync(result);

        AssertProtocolError(await SendAsync(gateway, RawMcp.Call(1, "bad__t")), 1);
        AssertProtocolError(await SendAsync(gateway, """{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"bad://r"}}"""), 2);
        AssertProtocolError(await SendAsync(gateway, """{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"bad__p"}}"""), 3);
    }

    [Theory]
    [InlineData("\"x\"")]
    [InlineData("null")]
    [InlineData("[1]")]
    public async Task A_list_result_that_is_not_an_object_leaves_that_servers_items_out_of_the_aggregated_list(string result)
    {
        await using var gateway = await StartAsync(result);

        foreach (
            var (method, property, expected) in new[]
            {
                ("tools/list", "tools", "bad__t"),
                ("prompts/list", "prompts", "bad__p"),
                ("resources/list", "resources", "bad://r"),
            }
        )
        {
            var message = await SendAsync(gateway, $$"""{"jsonrpc":"2.0","id":4,"method":"{{method}}"}""");
            Assert.True(message.TryGetProperty("result", out var listed), message.GetRawText());
            var items = listed.GetProperty(property).EnumerateArray().Select(i => i.GetProperty(property == "resources" ? "uri" : "name").GetString()).ToList();
            Assert.Equal([expected], items);
        }
    }
}
