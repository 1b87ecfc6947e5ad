using System.Net;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>Resources created through the admin API serve real MCP clients at once, and changes apply to the next call.</summary>
public sealed class AdminEndToEndTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string J(string s) => JsonSerializer.Serialize(s);

    private static async Task<McpClient> ConnectAsync(GatewayHarness gateway, string profile, string? token = null)
    {
        var options = new HttpClientTransportOptions { Endpoint = gateway.McpUrl(profile), TransportMode = HttpTransportMode.StreamableHttp };
        if (token is not null)
        {
            options.AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" };
        }

        return await McpClient.CreateAsync(new HttpClientTransport(options), LegacyClient.Options(), cancellationToken: Ct);
    }

    private static async Task<CallToolResult> EchoAsync(McpClient client, string message) =>
        await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = message }, cancellationToken: Ct);

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    [Fact]
    public async Task A_server_and_profile_made_through_the_API_serve_calls_and_tokens_policies_restart_and_deletion_apply_live()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig { AdminKeys = AdminClient.FileKeys });
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        var server = await admin.PostAsync("/api/mcp-servers", $$"""{"name": "ev", "command": {{J(Repo.Node)}}, "args": [{{J(Repo.Everything)}}, "stdio"]}""");
        Assert.True(server.Status == HttpStatusCode.Created, server.ToString());
        Assert.Equal("api", server.Json.GetProperty("managedBy").GetString());

        var profile = await admin.PostAsync(
            "/api/profiles",
            """{"name": "team", "servers": ["ev"], "tools": {"*": {"allowUsageWhenUntrustedDataIsPresent": true}}}"""
        );
        Assert.True(profile.Status == HttpStatusCode.Created, profile.ToString());

        await using (var client = await ConnectAsync(gateway, "team"))
        {
            Assert.Equal("Echo: hi", Text(await EchoAsync(client, "hi")));
        }

        // A token makes the profile require it.
        var token = await admin.PostAsync("/api/tokens", """{"name": "ci", "profile": "team"}""");
        Assert.True(token.Status == HttpStatusCode.Created, token.ToString());
        var secret = token.Json.GetProperty("token").GetString()!;
        Assert.StartsWith("arc_", secret, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<Exception>(async () => await ConnectAsync(gateway, "team"));
        var tokens = await admin.GetAsync("/api/tokens");
        Assert.DoesNotContain(secret, tokens.Text, StringComparison.Ordinal);

        // A policy decides the next call.
        var policy = await admin.PostAsync(
            "/api/policies/tool-invocation",
            """
            {"tool": "ev__echo", "action": "block_always", "reason": "not that word",
             "conditions": [{"key": "message", "operator": "equal", "value": "forbidden"}]}
            """
        );
        Assert.True(policy.Status == HttpStatusCode.Created, policy.ToString());
        var policyId = policy.Json.GetProperty("id").GetString()!;
        await using (var client = await ConnectAsync(gateway, "team", secret))
        {
            var blocked = await EchoAsync(client, "forbidden");
            Assert.True(blocked.IsError);
            Assert.StartsWith($"blocked by policy {policyId}: not that word", Text(blocked), StringComparison.Ordinal);
            Assert.Equal("Echo: fine", Text(await EchoAsync(client, "fine")));
        }

        // Changing the policy changes the decision.
        var changed = await admin.PutAsync(
            $"/api/policies/tool-invocation/{policyId}",
            """
            {"tool": "ev__echo", "action": "block_always", "reason": "other word",
             "conditions": [{"key": "message", "operator": "equal", "value": "fine"}]}
            """
        );
        Assert.True(changed.Status == HttpStatusCode.OK, changed.ToString());
        await using (var client = await ConnectAsync(gateway, "team", secret))
        {
            Assert.Equal("Echo: forbidden", Text(await EchoAsync(client, "forbidden")));
            Assert.StartsWith($"blocked by policy {policyId}: other word", Text(await EchoAsync(client, "fine")), StringComparison.Ordinal);
        }

        // Tools, tool settings.
        var tools = await admin.GetAsync("/api/tools?profile=team");
        var echo = tools.Items.Single(t => t.GetProperty("id").GetString() == "team/ev__echo");
        Assert.Equal("*", echo.GetProperty("settingsFrom").GetString());
        var setting = await admin.PutAsync("/api/tools/team/ev__echo", """{"resultTreatment": "trusted"}""");
        Assert.True(setting.Status == HttpStatusCode.OK, setting.ToString());
        tools = await admin.GetAsync("/api/tools?profile=team&server=ev");
        echo = tools.Items.Single(t => t.GetProperty("id").GetString() == "team/ev__echo");
        Assert.Equal("trusted", echo.GetProperty("settings").GetProperty("resultTreatment").GetString());
        Assert.True(echo.GetProperty("online").GetBoolean());

        // The tool list is also stored (recorded in the background when the server listed it): first and last seen.
        for (var attempt = 0; !echo.TryGetProperty("firstSeen", out _); attempt++)
        {
            Assert.True(attempt < 100, "the discovered tool was never recorded: " + echo);
            await Task.Delay(50, TestContext.Current.CancellationToken);
            echo = (await admin.GetAsync("/api/tools?profile=team&server=ev")).Items.Single(t => t.GetProperty("id").GetString() == "team/ev__echo");
        }

        Assert.True(echo.GetProperty("lastSeen").GetDateTime() >= echo.GetProperty("firstSeen").GetDateTime());
        var discovered = await gateway.Server.Store.ListDiscoveredToolsAsync("ev", TestContext.Current.CancellationToken);
        Assert.Contains(discovered, t => t.Name == "echo" && t.InputSchemaJson.Contains("message", StringComparison.Ordinal));

        // Status, logs, restart.
        var status = await admin.GetAsync("/api/mcp-servers/ev/status");
        Assert.Equal("ready", status.Json.GetProperty("state").GetString());
        var pid = status.Json.GetProperty("pid").GetInt32();
        // server-everything writes one stderr line at start ("Starting default (STDIO) server..."); stderr is read
        // apart from the handshake on stdout, so the line may land just after "ready": poll, bounded.
        var logs = await admin.GetAsync("/api/mcp-servers/ev/logs?lines=5");
        for (var attempt = 0; logs.Status == HttpStatusCode.OK && logs.Json.GetProperty("lines").GetArrayLength() == 0 && attempt < 100; attempt++)
        {
            await Task.Delay(50, Ct);
            logs = await admin.GetAsync("/api/mcp-servers/ev/logs?lines=5");
        }

        Assert.True(logs.Status == HttpStatusCode.OK, logs.ToString());
        Assert.InRange(logs.Json.GetProperty("lines").GetArrayLength(), 1, 5);
        Assert.Contains(logs.Json.GetProperty("lines").EnumerateArray(), l =>
            l.GetString()!.Contains("Starting default (STDIO) server", StringComparison.Ordinal)
        );
        var restarted = await admin.PostAsync("/api/mcp-servers/ev/restart", "{}");
        Assert.True(restarted.Status == HttpStatusCode.OK, restarted.ToString());
        Assert.NotEqual(pid, (await admin.GetAsync("/api/mcp-servers/ev/status")).Json.GetProperty("pid").GetInt32());
        await using (var client = await ConnectAsync(gateway, "team", secret))
        {
            Assert.Equal("Echo: again", Text(await EchoAsync(client, "again")));
        }

        // The calls were recorded; pages chain by cursor.
        Reply calls;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            await Task.Delay(100, Ct);
            calls = await admin.GetAsync("/api/audit/mcp-tool-calls?profile=team&limit=2");
        } while (calls.Items.Count() < 2 && DateTime.UtcNow < deadline);
        Assert.Equal(2, calls.Items.Count());
        var cursor = calls.Json.GetProperty("nextCursor").GetString();
        Assert.NotNull(cursor);
        var next = await admin.GetAsync($"/api/audit/mcp-tool-calls?profile=team&limit=2&cursor={cursor}");
        Assert.True(next.Status == HttpStatusCode.OK, next.ToString());
        Assert.NotEmpty(next.Items);
        var blockedCalls = await admin.GetAsync($"/api/audit/mcp-tool-calls?profile=team&sort=asc&server=ev&tool=echo");
        Assert.Contains(blockedCalls.Items, c => c.TryGetProperty("policyId", out var id) && id.GetString() == policyId);

        // Deleting: a server in use is refused; after its profile goes, it goes too.
        var inUse = await admin.DeleteAsync("/api/mcp-servers/ev");
        Assert.Equal(HttpStatusCode.Conflict, inUse.Status);
        Assert.Contains("team", inUse.Json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/policies/tool-invocation/{policyId}")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/profiles/team")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/mcp-servers/ev")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/mcp-servers/ev")).Status);
        Assert.False(gateway.Server.Gateway.Entries.ContainsKey("ev"));
        Assert.False(gateway.Server.Gateway.Profiles.ContainsKey("team"));
        Assert.Empty((await admin.GetAsync("/api/tokens")).Items);

        // Every change is in the log, with the key's name as the actor.
        var changes = (await admin.GetAsync("/api/audit/admin-changes")).Items.ToList();
        Assert.All(changes, c => Assert.Equal("root", c.GetProperty("actor").GetString()));
        Assert.Contains(changes, c =>
            c.GetProperty("action").GetString() == "create"
            && c.GetProperty("resourceKind").GetString() == "server"
            && c.GetProperty("resourceId").GetString() == "ev"
        );
        Assert.Contains(changes, c => c.GetProperty("action").GetString() == "delete" && c.GetProperty("resourceKind").GetString() == "profile");
        Assert.Contains(changes, c => c.GetProperty("resourceKind").GetString() == "token" && c.GetProperty("resourceId").GetString() == "ci");
        Assert.Contains(changes, c => c.GetProperty("action").GetString() == "update" && c.GetProperty("resourceId").GetString() == policyId);
    }

    [Fact]
    public async Task API_resources_are_applied_again_when_the_gateway_restarts_on_the_same_database()
    {
        var data = Directory.CreateTempSubdirectory("archestra-admin-").FullName;
        try
        {
            var config = new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                Storage = new StorageConfig { DataDirectory = data },
            };
            await using (var first = await GatewayHarness.StartAsync(config))
            {
                using var admin = new AdminClient(first.Server.AdminUrl, AdminClient.RootKey);
                Assert.Equal(
                    HttpStatusCode.Created,
                    (
                        await admin.PostAsync(
                            "/api/mcp-servers",
                            $$"""{"name": "ev", "command": {{J(Repo.Node)}}, "args": [{{J(Repo.Everything)}}, "stdio"]}"""
                        )
                    ).Status
                );
                Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync("/api/profiles", """{"name": "team", "servers": ["ev"]}""")).Status);
            }

            await using var second = await GatewayHarness.StartAsync(config);
            await using var client = await ConnectAsync(second, "team");
            Assert.Equal("Echo: back", Text(await EchoAsync(client, "back")));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Following_a_log_streams_lines_as_server_sent_events()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("ev")],
                Profiles = [GatewayHarness.Profile("p", "ev")],
            }
        );
        using var http = new HttpClient { BaseAddress = gateway.Server.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", AdminClient.RootKey);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        using var response = await http.GetAsync("/api/mcp-servers/ev/logs?follow=true&lines=1", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        // A restart makes the new process write its start-up lines.
        _ = Task.Run(() => gateway.Server.Gateway.RestartServerAsync("ev", cts.Token), cts.Token);
        var line = await reader.ReadLineAsync(cts.Token);
        Assert.NotNull(line);
        Assert.StartsWith("data: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_followed_log_shows_a_servers_escape_sequences_escaped()
    {
        // bash writes ESC, BEL and NUL to stderr before server-everything starts.
        const string script = """
            printf 'noisy \033[2J\033[31mred\007 nul\000end\n' >&2
            exec node "$0" stdio
            """;
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [GatewayHarness.Stdio("noisy", "bash", "-c", script, Repo.Everything)],
                Profiles = [GatewayHarness.Profile("p", "noisy")],
            }
        );
        using var http = new HttpClient { BaseAddress = gateway.Server.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", AdminClient.RootKey);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        using var response = await http.GetAsync("/api/mcp-servers/noisy/logs?follow=true&lines=100", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        string? line;
        while ((line = await reader.ReadLineAsync(cts.Token)) is not null && !line.Contains("noisy", StringComparison.Ordinal)) { }

        Assert.Equal(@"data: noisy \x1B[2J\x1B[31mred\x07 nul\x00end", line);
    }
}
