using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage.Tests.Infrastructure;
using Npgsql;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>
/// Two gateway processes on one PostgreSQL, as two replicas behind a load balancer: what the admin API changes on one
/// is served by the other without a restart (LISTEN/NOTIFY), also when the other's listening connection was cut just
/// before the change (it re-reads everything when it is back).
/// </summary>
public sealed class ReplicaChangeTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private const string AdminKey = "replica-admin-key-for-tests-0123456789";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 240_000)]
    public async Task An_admin_change_on_one_replica_is_served_by_the_other_and_after_its_listener_was_cut()
    {
        var database = await postgres.CreateDatabaseAsync();
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(AdminKey)));
        var members = $$"""
            "database": {{JsonSerializer.Serialize(database)}},
            "adminKeys": [{ "name": "ops", "key": "sha256:{{hash}}", "scope": "read-write" }]
            """;
        await using var a = await GatewayProcess.StartAsync(members);
        await using var b = await GatewayProcess.StartAsync(members);
        using var adminA = Admin(a);
        using var http = new HttpClient();

        // Before any change, replica B has no profile "team".
        Assert.Equal(HttpStatusCode.NotFound, (await CallAsync(http, b)).Status);

        await PostAsync(
            adminA,
            "/api/mcp-servers",
            $$"""{"name": "ev", "command": "node", "args": [{{JsonSerializer.Serialize(Repo.Everything)}}, "stdio"]}"""
        );
        var changed = Stopwatch.StartNew();
        await PostAsync(adminA, "/api/profiles", """{"name": "team", "servers": ["ev"]}""");
        var served = await UntilAsync(http, b, r => r.Status == HttpStatusCode.OK && r.Body.Contains("Echo: replica", StringComparison.Ordinal));
        output.WriteLine($"replica B served the new profile {changed.ElapsedMilliseconds} ms after replica A committed it");
        Assert.Contains("\"result\"", served.Body, StringComparison.Ordinal);

        // Cut every listening connection, then change at once: B hears nothing of it, and must re-read on reconnecting.
        await using (var connection = new NpgsqlConnection(PostgresServer.ConnectionString(database)))
        {
            await connection.OpenAsync(Ct);
            await using var cut = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    + "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query IN ('LISTEN archestra_changes', 'SELECT 1')",
                connection
            );
            var terminated = (long)(await cut.ExecuteScalarAsync(Ct))!;
            Assert.True(terminated >= 2, $"expected both replicas' listening connections, terminated {terminated}");
        }

        await PostAsync(
            adminA,
            "/api/policies/tool-invocation",
            """{"tool": "ev__echo", "action": "block_always", "reason": "replica-policy-refusal", "conditions": []}"""
        );
        var refused = await UntilAsync(http, b, r => r.Body.Contains("replica-policy-refusal", StringComparison.Ordinal));
        Assert.DoesNotContain("Echo: replica", refused.Body, StringComparison.Ordinal);

        // And A, whose own change it was, refuses too.
        Assert.Contains("replica-policy-refusal", (await CallAsync(http, a)).Body, StringComparison.Ordinal);
    }

    private static HttpClient Admin(GatewayProcess process)
    {
        var http = new HttpClient { BaseAddress = process.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return http;
    }

    private static async Task PostAsync(HttpClient admin, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await admin.PostAsync(path, content, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
    }

    /// <summary>A stateless tools/call of the one server's echo on profile "team".</summary>
    private static async Task<(HttpStatusCode Status, string Body)> CallAsync(HttpClient http, GatewayProcess process)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(process.GatewayUrl, "/v1/mcp/team"))
        {
            Content = new StringContent(
                """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"replica"}}}""",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var response = await http.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    /// <summary>Calls replica <paramref name="process"/> until <paramref name="done"/>; a bound for a loaded machine, not a latency assertion.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> UntilAsync(
        HttpClient http,
        GatewayProcess process,
        Func<(HttpStatusCode Status, string Body), bool> done
    )
    {
        var last = (HttpStatusCode.OK, "");
        for (var attempt = 0; attempt < 600; attempt++)
        {
            last = await CallAsync(http, process);
            if (done(last))
            {
                return last;
            }

            await Task.Delay(50, Ct);
        }

        Assert.Fail($"the other replica never applied the change; last answer {(int)last.Item1}: {last.Item2}");
        return last;
    }
}
