using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// A modern-only server (the v2 TypeScript SDK with <c>legacy: "reject"</c>, Assets/modern-server.mjs) and a 2025-only
/// stdio server (server-everything) in one profile, "both", used by a 2025 client and a 2026-07-28 client.
/// </summary>
public sealed class ModernUpstreamFixture : IAsyncLifetime
{
    private ExternalProcess? _modern;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var port = Repo.FreePort();
        _modern = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("modern-server.mjs")],
            new Dictionary<string, string>
            {
                ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules,
            }
        );
        await _modern.WaitForPortAsync(port, TimeSpan.FromSeconds(30));
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers =
                [
                    GatewayHarness.Stdio("local", Repo.Node, Repo.Everything, "stdio"),
                    GatewayHarness.Http("modern", $"http://127.0.0.1:{port}/mcp"),
                ],
                // "modern-only": no server-everything, whose roots/list 350 ms after it starts would reach whichever 2025 session
                // has a GET stream open and be counted as one of the call's questions.
                Profiles = [GatewayHarness.Profile("both", "local", "modern"), GatewayHarness.Profile("modern-only", "modern")],
            }
        );
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        if (_modern is not null)
        {
            await _modern.DisposeAsync();
        }
    }
}

public sealed class ModernUpstreamTests : IClassFixture<ModernUpstreamFixture>
{
    private readonly ModernUpstreamFixture _fixture;

    public ModernUpstreamTests(ModernUpstreamFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    [Fact]
    public async Task A_tool_argument_the_server_declares_as_a_header_travels_in_its_mcp_param_header_too()
    {
        // modern__route's `region` carries x-mcp-header "Region": the v2 SDK refuses the call (400 / -32020) unless the
        // gateway's request has Mcp-Param-Region equal to the argument, Base64-encoded when it is not header-safe.
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl("both"), TransportMode = HttpTransportMode.StreamableHttp }
        );
        await using var legacy = await McpClient.CreateAsync(transport, LegacyClient.Options(), cancellationToken: Ct);
        foreach (var region in new[] { "eu-west-1", "Zürich  ", "a,b;c" })
        {
            var result = await legacy.CallToolAsync("modern__route", new Dictionary<string, object?> { ["region"] = region }, cancellationToken: Ct);
            Assert.True(result.IsError != true, Text(result));
            Assert.Equal($"routed to {region}", Text(result));
        }
    }

    [Fact]
    public async Task Both_client_eras_use_a_modern_only_server_and_a_2025_stdio_server_in_one_profile()
    {
        // A 2025 client (sessions): both servers' tools, with the usual names.
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl("both"), TransportMode = HttpTransportMode.StreamableHttp }
        );
        await using (var legacy = await McpClient.CreateAsync(transport, LegacyClient.Options(), cancellationToken: Ct))
        {
            Assert.Equal("2025-11-25", legacy.NegotiatedProtocolVersion);
            Assert.NotNull(legacy.SessionId);
            var tools = (await legacy.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).ToList();
            Assert.Contains("modern__shout", tools);
            Assert.Contains("local__echo", tools);
            Assert.Equal(
                "LOUD",
                Text(await legacy.CallToolAsync("modern__shout", new Dictionary<string, object?> { ["text"] = "loud" }, cancellationToken: Ct))
            );
            Assert.Equal(
                "Echo: quiet",
                Text(await legacy.CallToolAsync("local__echo", new Dictionary<string, object?> { ["message"] = "quiet" }, cancellationToken: Ct))
            );
        }

        // A 2026-07-28 client (the v2 TypeScript SDK, pinned) in the same profile.
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-modern.mjs"), _fixture.Gateway.McpUrl("both").ToString(), "pin", "modern__shout"],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);
        var modern = JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal("modern", modern.GetProperty("era").GetString());
        Assert.Equal("Echo: from-modern", modern.GetProperty("echo").GetString());
        Assert.Equal("FROM-MODERN", modern.GetProperty("extra").GetString());

        // What reached the modern-only server: the server/discover probe and the one initialize it refused (the gateway
        // prefers 2025 with a server that takes both), then only modern POSTs with their routing headers and never a
        // session, and one tools/list for all the listing above (its ttlMs is 60 s).
        await using var check = await McpClient.CreateAsync(
            new HttpClientTransport(
                new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl("both"), TransportMode = HttpTransportMode.StreamableHttp }
            ),
            LegacyClient.Options(),
            cancellationToken: Ct
        );
        var stats = JsonDocument.Parse(Text(await check.CallToolAsync("modern__stats", cancellationToken: Ct))).RootElement;
        var methods = stats.GetProperty("methods");
        Assert.True(methods.GetProperty("server/discover").GetInt32() >= 1);
        Assert.Equal(1, methods.GetProperty("initialize").GetInt32());
        Assert.Equal(1, stats.GetProperty("rejected").GetInt32());
        Assert.Equal(1, stats.GetProperty("withoutHeaders").GetInt32());
        Assert.Equal(1, methods.GetProperty("tools/list").GetInt32());
        Assert.Equal(0, stats.GetProperty("sessionHeaders").GetInt32());
    }
}
