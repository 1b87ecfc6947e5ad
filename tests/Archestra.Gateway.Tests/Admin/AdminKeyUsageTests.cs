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
        DateTime? first = null;
        for (var i = 0; i < 100 && first is null; i++)
        {
            var key = (await root.GetAsync("/api/admin-keys")).Items.Single(k => k.GetProperty("name").GetString() == "script");
            first = key.TryGetProperty("lastUsedAt", out var used) ? used.GetDateTime() : null;
            if (first is null)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }

        Assert.NotNull(first);
        Assert.InRange(first.Value, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddSeconds(1));

        // Within the minute, further use writes nothing.
        Assert.Equal(HttpStatusCode.OK, (await script.GetAsync("/api/profiles")).Status);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var again = (await root.GetAsync("/api/admin-keys")).Items.Single(k => k.GetProperty("name").GetString() == "script");
        Assert.Equal(first, again.GetProperty("lastUsedAt").GetDateTime());
    }
}
