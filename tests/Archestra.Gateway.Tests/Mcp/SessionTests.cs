using System.Net;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>Session behaviour against a real TypeScript-SDK server: cancellation and list changes.</summary>
public sealed class SessionTests : IClassFixture<FlakyFixture>
{
    private static readonly HttpClient Http = new();
    private readonly FlakyFixture _fixture;

    public SessionTests(FlakyFixture fixture)
    {
        _fixture = fixture;
    }

    private Uri Url => _fixture.Gateway.McpUrl("flaky");

    private async Task<string> InitializeAsync()
    {
        using var response = await Http.SendAsync(RawMcp.Post(Url, RawMcp.Initialize()), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var session = response.Headers.GetValues("Mcp-Session-Id").Single();
        using var initialized = await Http.SendAsync(
            RawMcp.Post(Url, """{"jsonrpc":"2.0","method":"notifications/initialized"}""", session),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.Accepted, initialized.StatusCode);
        return session;
    }

    private Task<int> CancelledCountAsync() => CountAsync("cancelled");

    private async Task<int> CountAsync(string tool)
    {
        using var response = await Http.SendAsync(RawMcp.Post(Url, RawMcp.Call(1, tool)), TestContext.Current.CancellationToken);
        var message = await RawMcp.ReadMessageAsync(response);
        return int.Parse(
            message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()!,
            System.Globalization.CultureInfo.InvariantCulture
        );
    }

    /// <summary>Waits until the gateway reports a call in flight on the server (admin /api/status), so a cancel cannot overtake it.</summary>
    private async Task WaitForCallInFlightAsync()
    {
        var status = new Uri(_fixture.Gateway.Server.AdminUrl, "/api/status");
        var inFlight = false;
        for (var i = 0; i < 500 && !inFlight; i++)
        {
            using var doc = JsonDocument.Parse(await Http.GetStringAsync(status, TestContext.Current.CancellationToken));
            inFlight = doc
                .RootElement.GetProperty("servers")
                .EnumerateArray()
                .Any(server => server.GetProperty("name").GetString() == "flaky" && server.GetProperty("inFlight").GetInt32() > 0);
            if (!inFlight)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }
        }

        Assert.True(inFlight, "the call never reached the upstream");

        // The gateway counts the call before the server's handler runs; a cancel that arrives in between is dropped by
        // the server's SDK (no handler to abort yet), so also wait until the server says the call is running.
        for (var i = 0; i < 100 && await CountAsync("hanging") == 0; i++)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        for (var i = 0; i < 300; i++)
        {
            using var response = await Http.SendAsync(RawMcp.Post(Url, RawMcp.Call(1, "echo", """{"message":"up"}""")), TestContext.Current.CancellationToken);
            if ((await RawMcp.ReadMessageAsync(response)).TryGetProperty("result", out _))
            {
                return;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Notifications_cancelled_reaches_the_upstream_for_the_right_call()
    {
        await WaitUntilReadyAsync();
        var session = await InitializeAsync();
        var before = await CancelledCountAsync();

        var call = Http.SendAsync(RawMcp.Post(Url, RawMcp.Call("to-cancel", "hang"), session), TestContext.Current.CancellationToken);
        await WaitForCallInFlightAsync();
        using var cancel = await Http.SendAsync(
            RawMcp.Post(Url, """{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"to-cancel","reason":"user"}}""", session),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);

        // A cancelled request gets no JSON-RPC response (spec: utilities/cancellation).
        using var response = await call;
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(string.Empty, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        // The gateway answers 202 before the upstream has read the forwarded notification: wait for it, bounded.
        Assert.Equal(before + 1, await CancelledCountAfterAsync(before));
    }

    /// <summary>The upstream's cancel counter once it moved past <paramref name="before"/>, or after 5 s if it never does.</summary>
    private async Task<int> CancelledCountAfterAsync(int before)
    {
        var count = await CancelledCountAsync();
        for (var i = 0; i < 50 && count == before; i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            count = await CancelledCountAsync();
        }

        return count;
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_its_call_upstream()
    {
        await WaitUntilReadyAsync();
        var before = await CancelledCountAsync();
        using (var abort = new CancellationTokenSource())
        {
            var call = Http.SendAsync(RawMcp.Post(Url, RawMcp.Call(1, "hang")), abort.Token);
            await WaitForCallInFlightAsync();
            await abort.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }

        Assert.Equal(before + 1, await CancelledCountAfterAsync(before));
    }

    [Fact]
    public async Task An_upstream_list_change_reaches_the_sessions_get_stream_and_refreshes_the_list()
    {
        await WaitUntilReadyAsync();
        var session = await InitializeAsync();
        var get = new HttpRequestMessage(HttpMethod.Get, Url);
        get.Headers.Add("Mcp-Session-Id", session);
        get.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
        using var stream = await Http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));

        using var add = await Http.SendAsync(RawMcp.Post(Url, RawMcp.Call(2, "add-tool"), session), TestContext.Current.CancellationToken);
        var added = (await RawMcp.ReadMessageAsync(add)).GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        string? line;
        do
        {
            line = await reader.ReadLineAsync(timeout.Token);
        } while (line is not null && !line.StartsWith("data: ", StringComparison.Ordinal));
        Assert.NotNull(line);
        Assert.Equal("notifications/tools/list_changed", JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("method").GetString());

        using var list = await Http.SendAsync(
            RawMcp.Post(Url, """{"jsonrpc":"2.0","id":3,"method":"tools/list"}""", session),
            TestContext.Current.CancellationToken
        );
        var names = (await RawMcp.ReadMessageAsync(list))
            .GetProperty("result")
            .GetProperty("tools")
            .EnumerateArray()
            .Select(t => t.GetProperty("name").GetString())
            .ToList();
        Assert.Contains(added, names);
    }
}
