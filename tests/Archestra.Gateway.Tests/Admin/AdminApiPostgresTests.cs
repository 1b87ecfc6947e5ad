using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Storage;
using Archestra.Storage.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>
/// The admin API's SQL on PostgreSQL: the real gateway in-process on a fresh database, every resource kind created,
/// listed, changed and deleted over HTTP, the change log read back, and the API's resources loaded again at a restart.
/// </summary>
public sealed class AdminApiPostgresTests(PostgresFixture postgres) : IAsyncLifetime, IClassFixture<PostgresFixture>
{
    private const string AdminKey = "postgres-admin-key-for-tests-0123456789";
    private const string ProviderKey = "sk-proj-postgres-0123456789abcdefghijklmnopqrstuvwxyz";

    private readonly string _data = Directory.CreateTempSubdirectory("archestra-admin-pg-").FullName;
    private readonly string _secretKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private string _database = "";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _database = await postgres.CreateDatabaseAsync();

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_data, recursive: true);
        return ValueTask.CompletedTask;
    }

    private static string Everything
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Archestra.sln")))
            {
                dir = dir.Parent;
            }

            return Path.Combine(dir!.FullName, "tests", "node", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");
        }
    }

    private Task<GatewayServer> StartAsync() =>
        GatewayServer.StartAsync(
            new GatewayConfig
            {
                Listen = new ListenConfig
                {
                    Gateway = "http://127.0.0.1:0",
                    Admin = "http://127.0.0.1:0",
                    Metrics = "http://127.0.0.1:0",
                },
                AdminKeys = [new AdminKeyConfig("root", SHA256.HashData(Encoding.UTF8.GetBytes(AdminKey)), true)],
                Storage = new StorageConfig { Database = _database, DataDirectory = _data },
            },
            Ct,
            logging => logging.SetMinimumLevel(LogLevel.Warning),
            name =>
                name switch
                {
                    "ARCHESTRA_SECRET_KEY" => _secretKey,
                    "ARCHESTRA_DATABASE_URL" => null,
                    _ => Environment.GetEnvironmentVariable(name),
                }
        );

    private static HttpClient Client(GatewayServer server)
    {
        var http = new HttpClient { BaseAddress = server.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return http;
    }

    private static async Task<JsonElement> SendAsync(HttpClient http, HttpMethod method, string path, string? json, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{method} {path}: {(int)response.StatusCode} {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    private static Task<JsonElement> GetAsync(HttpClient http, string path) => SendAsync(http, HttpMethod.Get, path, null, HttpStatusCode.OK);

    private static Task<JsonElement> PostAsync(HttpClient http, string path, string json) =>
        SendAsync(http, HttpMethod.Post, path, json, HttpStatusCode.Created);

    private static IEnumerable<string> Names(JsonElement list, string key = "name") =>
        list.GetProperty("items").EnumerateArray().Select(i => i.GetProperty(key).GetString()!);

    [Fact]
    public async Task Every_admin_resource_is_created_listed_changed_and_deleted_on_PostgreSQL_with_its_change_log()
    {
        var server = await StartAsync();
        try
        {
            Assert.Equal(StorageDialect.Postgres, server.Store.Dialect);
            using var http = Client(server);

            await PostAsync(http, "/api/mcp-servers", $$"""{"name": "ev", "command": "node", "args": [{{JsonSerializer.Serialize(Everything)}}, "stdio"]}""");
            await PostAsync(http, "/api/profiles", """{"name": "team", "servers": ["ev"], "tools": {"*": {"allowUsageWhenUntrustedDataIsPresent": true}}}""");
            var token = await PostAsync(http, "/api/tokens", """{"name": "ci", "profile": "team"}""");
            Assert.StartsWith("arc_", token.GetProperty("token").GetString(), StringComparison.Ordinal);
            var policy = await PostAsync(
                http,
                "/api/policies/tool-invocation",
                """
                {"tool": "ev__echo", "action": "block_always", "reason": "no", "conditions": [{"key": "message", "operator": "equal",
                  "value": "x"}], "profiles": ["team"]}
                """
            );
            var policyId = policy.GetProperty("id").GetString()!;
            await PostAsync(http, "/api/admin-keys", """{"name": "viewer", "scope": "read-only"}""");
            await SendAsync(http, HttpMethod.Put, "/api/tools/team/ev__echo", """{"resultTreatment": "trusted"}""", HttpStatusCode.OK);

            var provider = await PostAsync(
                http,
                "/api/llm/providers",
                $$"""{"name": "oai", "kind": "openai", "apiKeys": [{"name": "main", "key": "{{ProviderKey}}"}]}"""
            );
            Assert.DoesNotContain(ProviderKey, provider.GetRawText(), StringComparison.Ordinal);
            await PostAsync(http, "/api/llm/prices", """{"model": "gpt-4o", "inputPerMillion": 2.5, "outputPerMillion": 10, "cachedInputPerMillion": 1.25}""");
            var limit = await PostAsync(http, "/api/llm/limits", """{"profile": "team", "kind": "tokens", "period": "total", "value": 5000000000}""");
            var usd = await PostAsync(http, "/api/llm/limits", """{"profile": "team", "kind": "usd", "period": "month", "value": 12.5}""");
            var rule = await PostAsync(
                http,
                "/api/llm/optimization-rules",
                """{"profile": "team", "conditions": {"maxInputTokens": 1000, "requestedModel": "gpt-4o*"}, "targetModel": "gpt-4o-mini"}"""
            );

            // Lists read every row back in PostgreSQL types (uuid, timestamptz, numeric, jsonb, boolean).
            Assert.Contains("ev", Names(await GetAsync(http, "/api/mcp-servers")));
            Assert.Contains("team", Names(await GetAsync(http, "/api/profiles")));
            Assert.Equal(["ci"], Names(await GetAsync(http, "/api/tokens")));
            Assert.Equal([policyId], Names(await GetAsync(http, "/api/policies/tool-invocation"), "id"));
            Assert.Contains("viewer", Names(await GetAsync(http, "/api/admin-keys")));
            Assert.Equal(["oai"], Names(await GetAsync(http, "/api/llm/providers")));
            var price = (await GetAsync(http, "/api/llm/prices")).GetProperty("items")[0];
            Assert.Equal("2.5", price.GetProperty("inputPerMillion").GetRawText());
            Assert.Equal("1.25", price.GetProperty("cachedInputPerMillion").GetRawText());
            var limits = (await GetAsync(http, "/api/llm/limits"))
                .GetProperty("items")
                .EnumerateArray()
                .Select(l => l.GetProperty("value").GetRawText())
                .ToList();
            Assert.Equal(["5000000000", "12.5"], limits);
            var rules = await GetAsync(http, "/api/llm/optimization-rules");
            Assert.Equal("gpt-4o*", rules.GetProperty("items")[0].GetProperty("conditions").GetProperty("requestedModel").GetString());
            await GetAsync(http, "/api/tools?profile=team");
            await GetAsync(http, "/api/audit/mcp-tool-calls?profile=team&limit=5");
            await GetAsync(http, "/api/audit/llm-interactions?limit=5");
            await GetAsync(http, "/api/usage");

            // The provider key is sealed in the row and opens with the secret key.
            var rows = await server.Store.QueryAsync(
                "SELECT p.id, k.ciphertext FROM llm_providers p JOIN llm_provider_keys k ON k.provider_id = p.id",
                r => (Id: r.Guid(0), Ciphertext: (byte[])r.Value(1)),
                Ct
            );
            var (providerId, ciphertext) = Assert.Single(rows);
            Assert.Equal(-1, ciphertext.AsSpan().IndexOf(Encoding.UTF8.GetBytes(ProviderKey).AsSpan(0, 16)));
            Assert.Equal(ProviderKey, await server.Store.LlmProviders.GetKeyAsync(providerId, "main", Ct));

            // Updates.
            await SendAsync(
                http,
                HttpMethod.Put,
                $"/api/policies/tool-invocation/{policyId}",
                """{"tool": "ev__echo", "action": "block_always", "reason": "changed"}""",
                HttpStatusCode.OK
            );
            await SendAsync(http, HttpMethod.Put, "/api/profiles/team", """{"servers": ["ev"], "description": "changed"}""", HttpStatusCode.OK);
            await SendAsync(http, HttpMethod.Put, "/api/llm/prices/gpt-4o", """{"inputPerMillion": 3, "outputPerMillion": 12}""", HttpStatusCode.OK);
            await SendAsync(
                http,
                HttpMethod.Put,
                $"/api/llm/limits/{usd.GetProperty("id").GetString()}",
                """{"profile": "team", "kind": "usd", "period": "day", "value": 1}""",
                HttpStatusCode.OK
            );
            await SendAsync(http, HttpMethod.Put, "/api/llm/providers/oai", """{"kind": "openai", "baseUrl": "http://127.0.0.1:1/v1"}""", HttpStatusCode.OK);
            await SendAsync(
                http,
                HttpMethod.Put,
                $"/api/llm/optimization-rules/{rule.GetProperty("id").GetString()}",
                """{"conditions": {"hasTools": false}, "targetModel": "m", "enabled": false}""",
                HttpStatusCode.OK
            );
            Assert.Equal("changed", (await GetAsync(http, $"/api/policies/tool-invocation/{policyId}")).GetProperty("reason").GetString());
            Assert.False((await GetAsync(http, $"/api/llm/optimization-rules/{rule.GetProperty("id").GetString()}")).GetProperty("enabled").GetBoolean());

            // A profile under a limit cannot go; deletes.
            await SendAsync(http, HttpMethod.Delete, "/api/profiles/team", null, HttpStatusCode.Conflict);
            await SendAsync(http, HttpMethod.Delete, $"/api/llm/limits/{limit.GetProperty("id").GetString()}", null, HttpStatusCode.NoContent);
            await SendAsync(http, HttpMethod.Delete, "/api/tokens/ci", null, HttpStatusCode.NoContent);
            await SendAsync(http, HttpMethod.Delete, "/api/admin-keys/viewer", null, HttpStatusCode.NoContent);
            await SendAsync(http, HttpMethod.Delete, "/api/llm/prices/gpt-4o", null, HttpStatusCode.NoContent);
            Assert.Empty(Names(await GetAsync(http, "/api/tokens")));
            Assert.Empty((await GetAsync(http, "/api/llm/prices")).GetProperty("items").EnumerateArray());

            var changes = (await GetAsync(http, "/api/audit/admin-changes?limit=100"))
                .GetProperty("items")
                .EnumerateArray()
                .Select(c => $"{c.GetProperty("resourceKind").GetString()} {c.GetProperty("action").GetString()} by {c.GetProperty("actor").GetString()}")
                .ToList();
            Assert.Equal(21, changes.Count);
            Assert.Equal("llm-price delete by root", changes[0]);
            Assert.Equal("server create by root", changes[^1]);
            Assert.DoesNotContain(ProviderKey, (await GetAsync(http, "/api/audit/admin-changes?limit=100")).GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            await server.DisposeAsync();
        }

        // A restart on the same database applies what the API stored.
        var again = await StartAsync();
        try
        {
            using var http = Client(again);
            var profile = await GetAsync(http, "/api/profiles/team");
            Assert.Equal("api", profile.GetProperty("managedBy").GetString());
            Assert.Equal("changed", profile.GetProperty("description").GetString());
            Assert.Contains("team", again.Gateway.Profiles.Keys);
            Assert.Single((await GetAsync(http, "/api/llm/limits")).GetProperty("items").EnumerateArray());
        }
        finally
        {
            await again.DisposeAsync();
        }
    }
}
