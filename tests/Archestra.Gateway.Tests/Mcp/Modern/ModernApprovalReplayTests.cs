using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Policy;
using Archestra.Storage.Tests.Infrastructure;
using static Archestra.Gateway.Tests.Mcp.Modern.ModernApprovalTests;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// An approval's <c>requestState</c> is answered once: a replayed answer is refused and never forwarded, in the gateway
/// that asked and in a replica sharing its session key and its PostgreSQL.
/// </summary>
public sealed class ModernApprovalReplayTests(PolicyFixture fixture, PostgresFixture postgres) : IClassFixture<PolicyFixture>, IClassFixture<PostgresFixture>
{
    private static async Task<string> AskAsync(Uri url, string arguments)
    {
        var result = (await CallAsync(url, arguments)).Message.GetProperty("result");
        Assert.Equal("input_required", result.GetProperty("resultType").GetString());
        return result.GetProperty("requestState").GetString()!;
    }

    private static void AssertSpent(JsonElement message)
    {
        Assert.False(message.TryGetProperty("result", out _), "a replayed approval reached the server: " + message);
        Assert.Equal(-32602, RawMcp.ErrorCode(message));
        Assert.Contains("already been answered", message.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static string Text(JsonElement message) => message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()!;

    [Fact]
    public async Task An_accepted_state_lets_one_call_through_and_a_replay_with_any_answer_is_refused()
    {
        var url = fixture.Gateway.McpUrl("agent");
        const string arguments = "{\"a\":12345,\"b\":2}";
        var state = await AskAsync(url, arguments);

        Assert.Contains("12347", Text((await CallAsync(url, arguments, Retry(state, "accept"))).Message), StringComparison.Ordinal);
        AssertSpent((await CallAsync(url, arguments, Retry(state, "accept"))).Message);
        AssertSpent((await CallAsync(url, arguments, Retry(state, "decline"))).Message);

        // Without an answer the spent state is only a reason to ask again, with a new state that works once.
        var fresh = await AskAsync(url, arguments);
        Assert.NotEqual(state, fresh);
        Assert.Contains("12347", Text((await CallAsync(url, arguments, Retry(fresh, "accept"))).Message), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_declined_state_is_spent_so_the_same_state_cannot_be_accepted_later()
    {
        var url = fixture.Gateway.McpUrl("agent");
        const string arguments = "{\"a\":12345,\"b\":3}";
        var state = await AskAsync(url, arguments);

        var declined = (await CallAsync(url, arguments, Retry(state, "decline"))).Message.GetProperty("result");
        Assert.True(declined.GetProperty("isError").GetBoolean());
        AssertSpent((await CallAsync(url, arguments, Retry(state, "accept"))).Message);
    }

    [Fact(Timeout = 240_000)]
    public async Task A_replay_to_a_replica_sharing_the_session_key_and_the_database_is_refused()
    {
        var loaded = ConfigLoader.Load(fixture.ConfigPath, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        var database = await postgres.CreateDatabaseAsync();
        var shared = loaded.Config! with
        {
            Security = loaded.Config!.Security with { SessionKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32) },
            Storage = loaded.Config!.Storage with { Database = database },
        };
        await using var first = await GatewayHarness.StartAsync(shared, enforceToolDefaults: true);
        await using var second = await GatewayHarness.StartAsync(shared, enforceToolDefaults: true);
        const string arguments = "{\"a\":12345,\"b\":4}";

        // Asked by one replica, answered on the other (they share the key), replayed on the first: refused there.
        var state = await AskAsync(first.McpUrl("agent"), arguments);
        Assert.Contains("12349", Text((await CallAsync(second.McpUrl("agent"), arguments, Retry(state, "accept"))).Message), StringComparison.Ordinal);
        AssertSpent((await CallAsync(first.McpUrl("agent"), arguments, Retry(state, "accept"))).Message);
        AssertSpent((await CallAsync(second.McpUrl("agent"), arguments, Retry(state, "accept"))).Message);
    }

    [Fact(Timeout = 240_000)]
    public async Task When_the_database_cannot_record_the_answer_the_call_is_not_made()
    {
        var loaded = ConfigLoader.Load(fixture.ConfigPath, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        var database = await postgres.CreateDatabaseAsync();
        await using var gateway = await GatewayHarness.StartAsync(
            loaded.Config! with
            {
                Storage = loaded.Config!.Storage with { Database = database },
            },
            enforceToolDefaults: true
        );
        const string arguments = "{\"a\":12345,\"b\":5}";
        var state = await AskAsync(gateway.McpUrl("agent"), arguments);

        await PostgresServer.ExecuteAsync(database, "DROP TABLE spent_request_states", TestContext.Current.CancellationToken);

        var (_, message) = await CallAsync(gateway.McpUrl("agent"), arguments, Retry(state, "accept"));
        Assert.False(message.TryGetProperty("result", out _), "an approval that could not be recorded reached the server: " + message);
        Assert.Equal(-32603, RawMcp.ErrorCode(message));
        Assert.Contains("the call was not made", message.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
