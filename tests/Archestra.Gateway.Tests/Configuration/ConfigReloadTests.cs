using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;

namespace Archestra.Gateway.Tests.Configuration;

/// <summary>A changed file reconfigures the running gateway: servers start and stop, profiles and tokens change.</summary>
public sealed class ConfigReloadTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Config(string servers, string profileServers, string tokens = "") =>
        $$"""
            {
              "mcpServers": { {{servers}} },
              "profiles": { "p": { "servers": [{{profileServers}}], "tools": { "*": { "allowUsageWhenUntrustedDataIsPresent": true } }{{tokens}} } }
            }
            """;

    private static string Server(string name) => $"\"{name}\": {{ \"command\": \"node\", \"args\": [{JsonSerializer.Serialize(Repo.Everything)}, \"stdio\"] }}";

    [Fact]
    public async Task Servers_and_tokens_added_or_removed_in_the_file_apply_without_a_restart()
    {
        var dir = Directory.CreateTempSubdirectory("archestra-reload-").FullName;
        var path = Path.Combine(dir, "archestra.json");
        try
        {
            await File.WriteAllTextAsync(path, Config(Server("a"), "\"a\""), Ct);
            var loaded = ConfigLoader.Load(path, Environment.GetEnvironmentVariable);
            Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
            await using var harness = await GatewayHarness.StartAsync(loaded.Config!, enforceToolDefaults: true);

            async Task<McpClient> ConnectAsync(string? token = null)
            {
                var options = new HttpClientTransportOptions { Endpoint = harness.McpUrl("p"), TransportMode = HttpTransportMode.StreamableHttp };
                if (token is not null)
                {
                    options.AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token };
                }

                return await McpClient.CreateAsync(new HttpClientTransport(options), LegacyClient.Options(), cancellationToken: Ct);
            }

            await using (var client = await ConnectAsync())
            {
                var tools = await client.ListToolsAsync(cancellationToken: Ct);
                Assert.Contains(tools, t => t.Name == "echo");
            }

            // A second server joins the profile (names become prefixed), and the profile gets a token.
            Environment.SetEnvironmentVariable("ARCHESTRA_RELOAD_TEST_TOKEN", "reload-token-1");
            await File.WriteAllTextAsync(
                path,
                Config(Server("a") + ", " + Server("b"), "\"a\", \"b\"", ", \"tokens\": [\"env:ARCHESTRA_RELOAD_TEST_TOKEN\"]"),
                Ct
            );
            Assert.Empty(await harness.Server.ReloadConfigAsync());

            await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync());
            await using (var client = await ConnectAsync("reload-token-1"))
            {
                var names = (await client.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).ToList();
                Assert.Contains("a__echo", names);
                Assert.Contains("b__echo", names);
                var result = await client.CallToolAsync("b__echo", new Dictionary<string, object?> { ["message"] = "from b" }, cancellationToken: Ct);
                Assert.NotEqual(true, result.IsError);
            }

            var a = harness.Server.Gateway.Entries["a"].Upstream;

            // Server a leaves: its connection (and process) stops; b is kept as it was.
            var b = harness.Server.Gateway.Entries["b"].Upstream;
            await File.WriteAllTextAsync(path, Config(Server("b"), "\"b\""), Ct);
            Assert.Empty(await harness.Server.ReloadConfigAsync());
            Assert.False(harness.Server.Gateway.Entries.ContainsKey("a"));
            Assert.Same(b, harness.Server.Gateway.Entries["b"].Upstream);
            Assert.NotEqual(Archestra.Runtime.Upstreams.UpstreamState.Ready, a.State);
            await using (var client = await ConnectAsync())
            {
                var tools = await client.ListToolsAsync(cancellationToken: Ct);
                Assert.Contains(tools, t => t.Name == "echo");
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("ARCHESTRA_RELOAD_TEST_TOKEN", null);
            Directory.Delete(dir, recursive: true);
        }
    }
}
