using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Admin;

public sealed class AdminKeyUsageTests
{
    [Fact]
    public async Task Using_an_API_admin_key_sets_its_last_used_time_once_per_minute()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig { AdminKeys = AdminClient.FileKeys });
        using var root = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        var created = await root.PostAsync("/api/admin-keys", """{"name": "script", "scope": "read-only"}""");
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        Assert.False(created.Json.TryGetProperty("lastUsedAt", out _));

        using var script = new AdminClient(gateway.Server.AdminUrl, created.Json.GetProperty("key").GetString());
        Assert.Equal(HttpStatusCode.OK, (await script.GetAsync("/api/profiles")).Status);

        // Written off the request path: poll.
        var first = await LastUsedAsync(root, "script");
        Assert.NotNull(first);
        Assert.InRange(first.Value, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddSeconds(1));

        // Within the minute, further use writes nothing. Proven against a positive signal rather than a pause: a second
        // key used for the first time afterwards gets its own write, scheduled after any the repeated use could have
        // caused; once that write is visible, the first key must still show its first time.
        Assert.Equal(HttpStatusCode.OK, (await script.GetAsync("/api/profiles")).Status);
        var probeKey = await root.PostAsync("/api/admin-keys", """{"name": "probe", "scope": "read-only"}""");
        Assert.True(probeKey.Status == HttpStatusCode.Created, probeKey.ToString());
        using var probe = new AdminClient(gateway.Server.AdminUrl, probeKey.Json.GetProperty("key").GetString());
        Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync("/api/profiles")).Status);
        Assert.NotNull(await LastUsedAsync(root, "probe"));
        Assert.Equal(first, await LastUsedAsync(root, "script"));
    }

    /// <summary>The key's lastUsedAt once it is set (polled for up to 5 s), else null.</summary>
    private static async Task<DateTime?> LastUsedAsync(AdminClient root, string name)
    {
        for (var i = 0; i < 100; i++)
        {
            var key = (await root.GetAsync("/api/admin-keys")).Items.Single(k => k.GetProperty("name").GetString() == name);
            if (key.TryGetProperty("lastUsedAt", out var used))
            {
                return used.GetDateTime();
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return null;
    }
}
