using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Policy;

/// <summary>Policy changes in the file apply to the next call without a restart; an invalid file changes nothing.</summary>
public sealed class PolicyReloadTests : IClassFixture<PolicyFixture>
{
    private readonly PolicyFixture _fixture;

    public PolicyReloadTests(PolicyFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<CallToolResult> EchoAsync(string message)
    {
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl("agent"), TransportMode = HttpTransportMode.StreamableHttp }
        );
        await using var client = await McpClient.CreateAsync(transport, LegacyClient.Options(), cancellationToken: Ct);
        return await client.CallToolAsync("mail__echo", new Dictionary<string, object?> { ["message"] = message }, cancellationToken: Ct);
    }

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    [Fact]
    public async Task A_policy_added_to_the_file_decides_the_next_call_and_an_invalid_file_is_refused_without_effect()
    {
        Assert.NotEqual(true, (await EchoAsync("hello")).IsError);

        var blockHello = """
            { "id": "no-hello", "tool": "mail__echo", "action": "block_always",
              "conditions": [{ "key": "message", "operator": "equal", "value": "hello" }], "reason": "greetings are off today" },
            """;
        await File.WriteAllTextAsync(_fixture.ConfigPath, PolicyFixture.Config(blockHello), Ct);
        Assert.Empty(await _fixture.Gateway.Server.ReloadConfigAsync());

        var blocked = await EchoAsync("hello");
        Assert.True(blocked.IsError);
        Assert.Equal("blocked by policy no-hello: greetings are off today", Text(blocked));
        Assert.NotEqual(true, (await EchoAsync("good morning")).IsError);

        var broken = """
            { "id": "typo", "tool": "mail__echo", "action": "block_always",
              "conditions": [{ "key": "message", "operator": "matches", "value": "x" }] },
            """;
        await File.WriteAllTextAsync(_fixture.ConfigPath, PolicyFixture.Config(broken), Ct);
        var errors = await _fixture.Gateway.Server.ReloadConfigAsync();
        var error = Assert.Single(errors);
        Assert.Contains("$.policies.toolInvocation[0].conditions[0].operator", error, StringComparison.Ordinal);
        Assert.Contains("typo", error, StringComparison.Ordinal);
        Assert.Contains("matches", error, StringComparison.Ordinal);

        // The previous policies stay in force.
        Assert.True((await EchoAsync("hello")).IsError);

        // Back to the original file: the policy is gone.
        await File.WriteAllTextAsync(_fixture.ConfigPath, PolicyFixture.Config(), Ct);
        Assert.Empty(await _fixture.Gateway.Server.ReloadConfigAsync());
        Assert.NotEqual(true, (await EchoAsync("hello")).IsError);
    }

    [Fact]
    public async Task A_changed_file_is_picked_up_without_a_signal()
    {
        var blockWatched = """
            { "id": "watched", "tool": "mail__echo", "action": "block_always",
              "conditions": [{ "key": "message", "operator": "equal", "value": "watched" }], "reason": "seen by the file watch" },
            """;
        await File.WriteAllTextAsync(_fixture.ConfigPath, PolicyFixture.Config(blockWatched), Ct);
        try
        {
            // The poll runs every 2 s; wait for the effect, not for a fixed time.
            CallToolResult result;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            do
            {
                await Task.Delay(200, Ct);
                result = await EchoAsync("watched");
            } while (result.IsError != true && DateTime.UtcNow < deadline);

            Assert.Equal("blocked by policy watched: seen by the file watch", Text(result));
        }
        finally
        {
            await File.WriteAllTextAsync(_fixture.ConfigPath, PolicyFixture.Config(), Ct);
            await _fixture.Gateway.Server.ReloadConfigAsync();
        }
    }
}
