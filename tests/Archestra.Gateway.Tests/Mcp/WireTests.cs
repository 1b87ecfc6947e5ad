using System.Net;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>Exact bytes on the wire for the streaming cases.</summary>
public sealed class WireTests : IClassFixture<EverythingFixture>
{
    private static readonly HttpClient Http = new();
    private readonly EverythingFixture _fixture;

    public WireTests(EverythingFixture fixture)
    {
        _fixture = fixture;
    }

    [Theory]
    [InlineData("local")]
    [InlineData("remote")]
    public async Task Progress_is_streamed_with_the_clients_token_before_the_result(string server)
    {
        var body =
            "{\"jsonrpc\":\"2.0\",\"id\":\"c-5\",\"method\":\"tools/call\",\"params\":{\"name\":\""
            + server
            + "__trigger-long-running-operation\",\"arguments\":{\"duration\":0.3,\"steps\":3},\"_meta\":{\"progressToken\":\"tok-ü\"}}}";
        using var response = await Http.SendAsync(RawMcp.Post(_fixture.Gateway.McpUrl("mixed"), body), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        // server-everything writes "method" first and "jsonrpc" last; the gateway forwards those bytes
        // unchanged and swaps only the progress token (and, in the result, the id) back to the client's.
        var expected =
            string.Concat(
                Enumerable
                    .Range(1, 3)
                    .Select(i =>
                        "event: message\ndata: {\"method\":\"notifications/progress\","
                        + $"\"params\":{{\"progress\":{i},\"total\":3,\"progressToken\":\"tok-ü\"}},\"jsonrpc\":\"2.0\"}}\n\n"
                    )
            )
            + "event: message\ndata: {\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Long running operation completed. Duration: "
            + "0.3 seconds, Steps: 3.\"}]},\"jsonrpc\":\"2.0\",\"id\":\"c-5\"}\n\n";
        Assert.Equal(expected, text);
    }

    [Fact]
    public async Task A_call_without_streamed_messages_is_answered_as_plain_json()
    {
        using var response = await Http.SendAsync(
            RawMcp.Post(_fixture.Gateway.McpUrl("mixed"), RawMcp.Call(8, "remote__get-sum", """{"a":1,"b":2}""")),
            TestContext.Current.CancellationToken
        );
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(
            """{"result":{"content":[{"type":"text","text":"The sum of 1 and 2 is 3."}]},"jsonrpc":"2.0","id":8}""",
            await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)
        );
    }
}
