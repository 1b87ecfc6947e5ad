using System.Globalization;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>A remote server that restarts forgets the gateway's session; the gateway must start a new one.</summary>
public sealed class RemoteRestartTests
{
    private static readonly HttpClient Http = new();

    private static ExternalProcess StartEverything(int port) =>
        ExternalProcess.Start(
            Repo.Node,
            [Repo.Everything, "streamableHttp"],
            new Dictionary<string, string> { ["PORT"] = port.ToString(CultureInfo.InvariantCulture) }
        );

    [Fact]
    public async Task Calls_recover_after_the_remote_server_restarts_and_forgets_the_session()
    {
        var port = Repo.FreePort();
        var server = StartEverything(port);
        try
        {
            await server.WaitForPortAsync(port, TimeSpan.FromSeconds(30));
            await using var gateway = await GatewayHarness.StartAsync(
                new GatewayConfig
                {
                    McpServers = [GatewayHarness.Http("remote", $"http://127.0.0.1:{port}/mcp")],
                    Profiles = [GatewayHarness.Profile("remote", "remote")],
                }
            );
            var url = gateway.McpUrl("remote");

            using (
                var first = await Http.SendAsync(RawMcp.Post(url, RawMcp.Call(1, "echo", """{"message":"before"}""")), TestContext.Current.CancellationToken)
            )
            {
                Assert.Contains("Echo: before", (await RawMcp.ReadMessageAsync(first)).GetProperty("result").GetRawText(), StringComparison.Ordinal);
            }

            await server.DisposeAsync();
            server = StartEverything(port);
            await server.WaitForPortAsync(port, TimeSpan.FromSeconds(30));

            // The new process answers the old session id with 400 "No valid session ID"; the gateway
            // must re-initialize and retry instead of failing every call from now on.
            using var after = await Http.SendAsync(RawMcp.Post(url, RawMcp.Call(2, "echo", """{"message":"after"}""")), TestContext.Current.CancellationToken);
            var message = await RawMcp.ReadMessageAsync(after);
            Assert.True(message.TryGetProperty("result", out var result), message.GetRawText());
            Assert.Contains("Echo: after", result.GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
