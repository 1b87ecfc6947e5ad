using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>List cursors: the gateway's own opaque "arc1.&lt;offset&gt;" into the merged list.</summary>
public sealed class CursorTests : IClassFixture<EverythingFixture>
{
    private static readonly HttpClient Http = new();
    private readonly EverythingFixture _fixture;

    public CursorTests(EverythingFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<JsonElement> ListToolsAsync(string paramsJson)
    {
        var body = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":" + paramsJson + "}";
        using var response = await Http.SendAsync(RawMcp.Post(_fixture.Gateway.McpUrl("mixed"), body), TestContext.Current.CancellationToken);
        return await RawMcp.ReadMessageAsync(response);
    }

    private static List<string?> Names(JsonElement message) =>
        message.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();

    [Fact]
    public async Task A_cursor_pages_into_the_merged_list()
    {
        var all = Names(await ListToolsAsync("{}"));
        Assert.True(all.Count > 3);
        Assert.Equal(all, Names(await ListToolsAsync("""{"cursor":null}""")));

        var skipped = await ListToolsAsync("""{"cursor":"arc1.3"}""");
        Assert.Equal(all.Skip(3), Names(skipped));
        Assert.False(skipped.GetProperty("result").TryGetProperty("nextCursor", out _));
    }

    [Theory]
    [InlineData("\"nope\"")]
    [InlineData("\"arc1.x\"")]
    [InlineData("\"arc1.-1\"")]
    [InlineData("\"arc1.\\u0033\"")]
    [InlineData("5")]
    [InlineData("{}")]
    public async Task A_cursor_the_gateway_did_not_issue_is_invalid_params(string cursor)
    {
        var message = await ListToolsAsync("{\"cursor\":" + cursor + "}");
        Assert.Equal(-32602, RawMcp.ErrorCode(message));
        Assert.Contains("unknown cursor", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
    }
}
