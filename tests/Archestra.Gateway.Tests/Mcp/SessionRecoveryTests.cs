using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>Replicas sharing security.sessionKey resume each other's sessions; a restart keeps sessions alive.</summary>
public sealed class SessionRecoveryTests
{
    private static readonly HttpClient Http = new();
    private static readonly byte[] SharedKey = System.Text.Encoding.UTF8.GetBytes("shared-session-key-for-the-replicas-0001");

    private static GatewayConfig Config(byte[]? key) =>
        new()
        {
            Security = new SecurityConfig { SessionKey = key },
            McpServers =
            [
                GatewayHarness.Stdio("flaky", Repo.Node, Repo.Asset("flaky-server.mjs")) with
                {
                    Env = new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules },
                },
            ],
            Profiles = [GatewayHarness.Profile("p", "flaky")],
        };

    private static async Task<string> InitializeAsync(GatewayHarness gateway)
    {
        using var response = await Http.SendAsync(RawMcp.Post(gateway.McpUrl("p"), RawMcp.Initialize()), TestContext.Current.CancellationToken);
        return response.Headers.GetValues("Mcp-Session-Id").Single();
    }

    private static async Task<HttpResponseMessage> CallAsync(GatewayHarness gateway, string session) =>
        await Http.SendAsync(RawMcp.Post(gateway.McpUrl("p"), RawMcp.Call(1, "echo", """{"message":"r"}"""), session), TestContext.Current.CancellationToken);

    [Fact]
    public async Task A_session_created_on_one_replica_works_on_another_until_deleted_there()
    {
        await using var a = await GatewayHarness.StartAsync(Config(SharedKey));
        await using var b = await GatewayHarness.StartAsync(Config(SharedKey));
        var session = await InitializeAsync(a);

        using (var onB = await CallAsync(b, session))
        {
            Assert.Equal(HttpStatusCode.OK, onB.StatusCode);
            Assert.Equal(session, onB.Headers.GetValues("Mcp-Session-Id").Single());
            Assert.Contains("flaky:r", (await RawMcp.ReadMessageAsync(onB)).GetProperty("result").GetRawText(), StringComparison.Ordinal);
        }

        var delete = new HttpRequestMessage(HttpMethod.Delete, b.McpUrl("p"));
        delete.Headers.Add("Mcp-Session-Id", session);
        using (var deleted = await Http.SendAsync(delete, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using var afterDelete = await CallAsync(b, session);
        Assert.Equal(HttpStatusCode.NotFound, afterDelete.StatusCode);
    }

    [Fact]
    public async Task A_restarted_gateway_with_the_same_key_keeps_sessions_and_one_with_another_key_does_not()
    {
        string session;
        await using (var first = await GatewayHarness.StartAsync(Config(SharedKey)))
        {
            session = await InitializeAsync(first);
        }

        await using (var restarted = await GatewayHarness.StartAsync(Config(SharedKey)))
        {
            using var call = await CallAsync(restarted, session);
            Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        }

        await using var otherKey = await GatewayHarness.StartAsync(Config(null));
        using var refused = await CallAsync(otherKey, session);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
    }
}
