using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary><c>subscriptions/listen</c>: the acknowledgment first, then only the list changes a stream asked for, tagged with its id.</summary>
public sealed class ModernListenTests
{
    private static readonly HttpClient Http = new() { Timeout = Timeout.InfiniteTimeSpan };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static async Task<(HttpResponseMessage Response, StreamReader Reader)> ListenAsync(Uri url, object id, string filter)
    {
        var request = ModernRaw.Post(url, ModernRaw.Body(id, "subscriptions/listen", $"\"notifications\":{filter}"), "subscriptions/listen");
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return (response, new StreamReader(await response.Content.ReadAsStreamAsync(Ct)));
    }

    /// <summary>The next SSE data line as JSON, or null when none arrives within <paramref name="wait"/>.</summary>
    internal static async Task<JsonElement?> NextAsync(StreamReader reader, TimeSpan wait)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(wait);
        try
        {
            while (await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    return JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
                }
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested) { }

        return null;
    }

    private static string SubscriptionId(JsonElement message) =>
        message.GetProperty("params").GetProperty("_meta").GetProperty("io.modelcontextprotocol/subscriptionId").GetRawText();

    [Fact]
    public async Task Each_stream_is_acknowledged_and_gets_only_the_list_changes_it_asked_for()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Stdio("fixture", "dotnet", Repo.FixtureDll, "--stdio")],
                Profiles = [GatewayHarness.Profile("f", "fixture")],
            }
        );
        var url = gateway.McpUrl("f");
        var (toolsResponse, tools) = await ListenAsync(url, "tools-1", "{\"toolsListChanged\":true,\"resourceSubscriptions\":[\"test://watched-resource\"]}");
        var (promptsResponse, prompts) = await ListenAsync(url, 7, "{\"promptsListChanged\":true}");
        using (toolsResponse)
        using (promptsResponse)
        {
            var ack = (await NextAsync(tools, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("notifications/subscriptions/acknowledged", ack.GetProperty("method").GetString());
            Assert.Equal("\"tools-1\"", SubscriptionId(ack));
            Assert.Equal(
                "{\"toolsListChanged\":true,\"resourceSubscriptions\":[\"test://watched-resource\"]}",
                ack.GetProperty("params").GetProperty("notifications").GetRawText()
            );
            Assert.Equal("7", SubscriptionId((await NextAsync(prompts, TimeSpan.FromSeconds(10)))!.Value));

            var call = ModernRaw.Body(1, "tools/call", "\"name\":\"test_dynamic_tool\",\"arguments\":{\"kind\":\"tool\"}");
            var (status, _) = await ModernRaw.SendAsync(Http, ModernRaw.Post(url, call, "tools/call", "test_dynamic_tool"));
            Assert.Equal(200, status);

            var changed = (await NextAsync(tools, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("notifications/tools/list_changed", changed.GetProperty("method").GetString());
            Assert.Equal("\"tools-1\"", SubscriptionId(changed));
            Assert.Null(await NextAsync(prompts, TimeSpan.FromMilliseconds(500)));
        }
    }
}
