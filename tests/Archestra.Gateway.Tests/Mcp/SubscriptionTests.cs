using System.Net;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>resources/updated reaches the sessions subscribed to the URI, and only them.</summary>
public sealed class SubscriptionTests
{
    private static readonly HttpClient Http = new();

    private static async Task<(string Session, StreamReader Events, HttpResponseMessage Stream)> OpenSessionAsync(Uri url)
    {
        using var init = await Http.SendAsync(RawMcp.Post(url, RawMcp.Initialize()), TestContext.Current.CancellationToken);
        var session = init.Headers.GetValues("Mcp-Session-Id").Single();
        var get = new HttpRequestMessage(HttpMethod.Get, url);
        get.Headers.Add("Mcp-Session-Id", session);
        get.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
        var stream = await Http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        return (session, new StreamReader(await stream.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken)), stream);
    }

    private static async Task<JsonElement?> NextMessageAsync(StreamReader events, TimeSpan within)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(within);
        try
        {
            while (await events.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    return JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
                }
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested) { }

        return null;
    }

    [Fact]
    public async Task Resource_updates_reach_subscribed_sessions_only()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Stdio("fixture", "dotnet", Repo.FixtureDll, "--stdio")],
                Profiles = [GatewayHarness.Profile("f", "fixture")],
            }
        );
        var url = gateway.McpUrl("f");
        var (subscriber, subscriberEvents, s1) = await OpenSessionAsync(url);
        var (bystander, bystanderEvents, s2) = await OpenSessionAsync(url);
        using (s1)
        using (s2)
        {
            using (
                var subscribe = await Http.SendAsync(
                    RawMcp.Post(url, """{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"test://watched-resource"}}""", subscriber),
                    TestContext.Current.CancellationToken
                )
            )
            {
                Assert.Equal("{}", (await RawMcp.ReadMessageAsync(subscribe)).GetProperty("result").GetRawText());
            }

            using (
                var update = await Http.SendAsync(
                    RawMcp.Post(url, RawMcp.Call(2, "test_update_watched_resource"), bystander),
                    TestContext.Current.CancellationToken
                )
            )
            {
                Assert.True((await RawMcp.ReadMessageAsync(update)).TryGetProperty("result", out _));
            }

            var received = await NextMessageAsync(subscriberEvents, TimeSpan.FromSeconds(10));
            Assert.NotNull(received);
            Assert.Equal("notifications/resources/updated", received.Value.GetProperty("method").GetString());
            Assert.Equal("test://watched-resource", received.Value.GetProperty("params").GetProperty("uri").GetString());

            Assert.Null(await NextMessageAsync(bystanderEvents, TimeSpan.FromMilliseconds(500)));
        }
    }
}
