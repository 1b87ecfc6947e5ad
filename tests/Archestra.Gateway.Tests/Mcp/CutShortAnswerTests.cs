using System.Net;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>
/// An upstream whose answer declares more bytes than it sends is described in the gateway's own words. Under
/// NativeAOT the framework's message for this is a bare resource key (net_http_invalid_response_premature_eof_bytecount);
/// these tests run under JIT, where that message reads fine, so they assert that our sentence is the one used.
/// </summary>
public sealed class CutShortAnswerTests
{
    private static readonly HttpClient Http = new();

    /// <summary>A stateless Streamable HTTP MCP server with one tool, whose tools/call answer stops after 10 of 100 bytes.</summary>
    internal static RawHttpAnswer McpServer(RawHttpRequest request)
    {
        if (request.Method != "POST")
        {
            return RawHttpAnswer.Empty(405, "Method Not Allowed");
        }

        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        if (!root.TryGetProperty("id", out var id))
        {
            return RawHttpAnswer.Empty(202, "Accepted");
        }

        return root.GetProperty("method").GetString() switch
        {
            "initialize" => RawHttpAnswer.Json(
                $$$$"""{"jsonrpc":"2.0","id":{{{{id.GetRawText()}}}},"result":"""
                    + $$$$"""{"protocolVersion":{{{{root.GetProperty("params").GetProperty("protocolVersion").GetRawText()}}}}"""
                    + ""","capabilities":{"tools":{}},"serverInfo":{"name":"cut","version":"1"}}}"""
            ),
            "tools/list" => RawHttpAnswer.Json(
                $$$"""{"jsonrpc":"2.0","id":{{{id.GetRawText()}}},"result":{"tools":[{"name":"t","inputSchema":{"type":"object"}}]}}"""
            ),
            "tools/call" => RawHttpAnswer.CutShort("""{"jsonrpc""", 100),
            _ => RawHttpAnswer.Json($$$"""{"jsonrpc":"2.0","id":{{{id.GetRawText()}}},"result":{}}"""),
        };
    }

    [Fact]
    public async Task An_answer_cut_short_by_the_upstream_reaches_the_client_as_a_sentence_naming_the_server()
    {
        await using var upstream = new RawHttpServer(McpServer);
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Http("cut", new Uri(upstream.Url, "mcp").ToString())],
                Profiles = [GatewayHarness.Profile("p", "cut")],
            }
        );

        using var response = await Http.SendAsync(RawMcp.Post(gateway.McpUrl("p"), RawMcp.Call(1, "t")), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = await RawMcp.ReadMessageAsync(response);
        Assert.True(message.TryGetProperty("error", out _), message.GetRawText());
        var text = RawMcp.ErrorMessage(message);
        Assert.StartsWith("MCP server 'cut' at ", text, StringComparison.Ordinal);
        Assert.EndsWith("the answer was cut short: the connection closed before the whole response arrived", text, StringComparison.Ordinal);
    }
}
