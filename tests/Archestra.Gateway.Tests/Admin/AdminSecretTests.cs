using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>An MCP server's env and header values never come back from the admin API in plain text.</summary>
public sealed class AdminSecretTests
{
    private const string Secret = "sk-inline-secret-7f3a9c1e5b";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void AssertInvalid(Reply reply, string path, string messagePart)
    {
        Assert.True(reply.Status == HttpStatusCode.UnprocessableEntity, reply.ToString());
        Assert.Equal("application/problem+json", reply.ContentType);
        Assert.Contains(reply.Errors, e => e.Path == path && e.Message.Contains(messagePart, StringComparison.Ordinal));
    }

    private static async Task AssertNowhereAsync(AdminClient admin, string name)
    {
        var list = await admin.GetAsync("/api/mcp-servers");
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.DoesNotContain(Secret, list.Text, StringComparison.Ordinal);
        var one = await admin.GetAsync($"/api/mcp-servers/{name}");
        Assert.DoesNotContain(Secret, one.Text, StringComparison.Ordinal);
        var changes = await admin.GetAsync("/api/audit/admin-changes");
        Assert.Equal(HttpStatusCode.OK, changes.Status);
        Assert.DoesNotContain(Secret, changes.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inline_env_and_header_values_are_refused_with_their_path_and_env_references_are_kept_as_written()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig { AdminKeys = AdminClient.FileKeys });
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        AssertInvalid(
            await admin.PostAsync("/api/mcp-servers", $$$"""{"name": "local", "command": "node", "env": {"API_KEY": "{{{Secret}}}"}}"""),
            "$.env.API_KEY",
            "env:NAME"
        );
        AssertInvalid(
            await admin.PostAsync(
                "/api/mcp-servers",
                $$$"""{"name": "remote", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer {{{Secret}}}"}}"""
            ),
            "$.headers.Authorization",
            "env:NAME"
        );
        Assert.Empty((await admin.GetAsync("/api/audit/admin-changes")).Items);

        var created = await admin.PostAsync(
            "/api/mcp-servers",
            """{"name": "remote", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "env:HOME"}}"""
        );
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        Assert.Equal("env:HOME", created.Json.GetProperty("config").GetProperty("headers").GetProperty("Authorization").GetString());
        AssertInvalid(
            await admin.PutAsync("/api/mcp-servers/remote", $$$"""{"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "{{{Secret}}}"}}"""),
            "$.headers.Authorization",
            "env:NAME"
        );
        await AssertNowhereAsync(admin, "remote");
    }

    [Fact]
    public async Task Inline_values_stored_by_an_older_gateway_are_hidden_from_GET_and_from_the_change_log()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig { AdminKeys = AdminClient.FileKeys });
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        // Before inline values were refused, the API stored the body as given and logged it as the change's details.
        var config = $$$"""{"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer {{{Secret}}}", "X-Ref": "env:HOME"}}""";
        var now = DateTime.UtcNow;
        await gateway.Server.Store.TransactAsync(
            tx =>
                tx.ExecuteAsync(
                    "INSERT INTO mcp_servers (id, name, transport, runtime, config, managed_by, created_at, updated_at) VALUES (@id, "
                        + "@name, 'http', 'remote', @config, 'api', @now, @now)",
                    Ct,
                    ("id", Guid.CreateVersion7()),
                    ("name", "old"),
                    ("config", new StoreJson(config)),
                    ("now", now)
                ),
            new AdminChange(Guid.CreateVersion7(), now, "root", "create", "server", "old", config),
            Ct
        );

        await AssertNowhereAsync(admin, "old");
        var headers = (await admin.GetAsync("/api/mcp-servers/old")).Json.GetProperty("config").GetProperty("headers");
        Assert.Equal("(hidden)", headers.GetProperty("Authorization").GetString());
        Assert.Equal("env:HOME", headers.GetProperty("X-Ref").GetString());
        var details = Assert.Single((await admin.GetAsync("/api/audit/admin-changes")).Items).GetProperty("details");
        Assert.Equal("(hidden)", details.GetProperty("headers").GetProperty("Authorization").GetString());
        Assert.Equal("http://127.0.0.1:9/mcp", details.GetProperty("url").GetString());
    }
}
