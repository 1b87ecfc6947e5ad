using System.Net;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>One gateway with a file-managed server and profile; every refusal path of the admin API.</summary>
public sealed class AdminFixture : IAsyncLifetime
{
    internal GatewayHarness Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("filesrv")],
                Profiles = [GatewayHarness.Profile("fileprof", "filesrv")],
                Security = new SecurityConfig { AllowedHosts = ["console.internal"], AllowedOrigins = ["https://console.example"] },
            }
        );
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }
    }
}

public sealed class AdminValidationTests : IClassFixture<AdminFixture>
{
    private readonly AdminFixture _fixture;

    public AdminValidationTests(AdminFixture fixture)
    {
        _fixture = fixture;
    }

    private AdminClient Root() => new(_fixture.Gateway.Server.AdminUrl, AdminClient.RootKey);

    private static void AssertProblem(Reply reply, HttpStatusCode status)
    {
        Assert.True(reply.Status == status, reply.ToString());
        Assert.Equal("application/problem+json", reply.ContentType);
        Assert.Equal((int)status, reply.Json.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(reply.Json.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(reply.Json.GetProperty("detail").GetString()));
    }

    private static void AssertInvalid(Reply reply, string path, string messagePart)
    {
        AssertProblem(reply, HttpStatusCode.UnprocessableEntity);
        Assert.Contains(reply.Errors, e => e.Path == path && e.Message.Contains(messagePart, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"name":"a","name":"b","url":"http://127.0.0.1:9/mcp"}""", "the key \"name\" appears twice in the object at $;")]
    [InlineData(
        """{"name":"srv-h","url":"http://127.0.0.1:9/mcp","headers":{"X-A":"1","X-\u0041":"2"}}""",
        "the key \"X-A\" appears twice in the object at $.headers;"
    )]
    [InlineData("""{"name":"srv\ud800","url":"http://127.0.0.1:9/mcp"}""", "not valid UTF-8 (or escapes a lone surrogate)")]
    public async Task A_body_with_a_repeated_key_or_a_lone_surrogate_is_400_naming_it_and_creates_nothing(string body, string why)
    {
        var reply = await Root().PostAsync("/api/mcp-servers", body);
        AssertProblem(reply, HttpStatusCode.BadRequest);
        Assert.Contains(reply.Errors, e => e.Path == "$" && e.Message.Contains(why, StringComparison.Ordinal));
        var list = await Root().GetAsync("/api/mcp-servers");
        Assert.DoesNotContain("\"srv-h\"", list.Json.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("\"b\"", list.Json.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_with_invalid_utf8_is_400_not_a_server_error()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_fixture.Gateway.Server.AdminUrl, "/api/llm/prices"))
        {
            Content = new ByteArrayContent([.. "{\"model\":\"m"u8, 0xFF, .. "\",\"inputPerMillion\":1,\"outputPerMillion\":2}"u8]),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminClient.RootKey);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Contains(
            "not valid UTF-8 (or escapes a lone surrogate) at byte 11",
            problem.RootElement.GetProperty("detail").GetString(),
            StringComparison.Ordinal
        );
    }

    [Fact]
    public async Task Without_a_key_or_with_a_wrong_one_the_answer_is_401_with_a_bearer_challenge()
    {
        using var none = new AdminClient(_fixture.Gateway.Server.AdminUrl, null);
        var reply = await none.GetAsync("/api/profiles");
        AssertProblem(reply, HttpStatusCode.Unauthorized);
        Assert.StartsWith("Bearer", reply.WwwAuthenticate, StringComparison.Ordinal);

        using var wrong = new AdminClient(_fixture.Gateway.Server.AdminUrl, "not-a-key");
        AssertProblem(await wrong.GetAsync("/api/mcp-servers"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Foreign_hosts_and_origins_are_refused_on_the_admin_listener_to_stop_dns_rebinding()
    {
        using var http = new HttpClient { BaseAddress = _fixture.Gateway.Server.AdminUrl };
        async Task<Reply> GetAsync(string path, string? host, string? origin)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminClient.RootKey);
            if (host is not null)
            {
                request.Headers.Host = host;
            }

            if (origin is not null)
            {
                request.Headers.Add("Origin", origin);
            }

            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            return new Reply(
                response.StatusCode,
                response.Content.Headers.ContentType?.MediaType,
                await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken),
                ""
            );
        }

        var host = await GetAsync("/api/status", "attacker.example", null);
        AssertProblem(host, HttpStatusCode.Forbidden);
        Assert.Contains("attacker.example", host.Json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("servers", host.Text, StringComparison.Ordinal);
        var origin = await GetAsync("/api/status", null, "https://evil.example");
        AssertProblem(origin, HttpStatusCode.Forbidden);
        Assert.Contains("https://evil.example", origin.Json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        AssertProblem(await GetAsync("/api/mcp-servers", "attacker.example:9001", null), HttpStatusCode.Forbidden);
        AssertProblem(await GetAsync("/api/openapi.json", null, "http://evil.example"), HttpStatusCode.Forbidden);

        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/api/status", null, null)).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/api/status", "localhost", "http://localhost:3000")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/api/mcp-servers", "console.internal", "https://console.example")).Status);
    }

    [Fact]
    public async Task A_read_only_key_reads_but_every_write_is_403()
    {
        using var reader = new AdminClient(_fixture.Gateway.Server.AdminUrl, AdminClient.ReaderKey);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/profiles")).Status);
        AssertProblem(await reader.PostAsync("/api/profiles", """{"name": "x", "servers": ["filesrv"]}"""), HttpStatusCode.Forbidden);
        AssertProblem(await reader.DeleteAsync("/api/admin-keys/root"), HttpStatusCode.Forbidden);
        AssertProblem(await reader.PostAsync("/api/mcp-servers/filesrv/restart", "{}"), HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Bad_bodies_are_refused_with_the_json_path_of_each_problem_and_change_nothing()
    {
        using var admin = Root();
        var before = (await admin.GetAsync("/api/audit/admin-changes")).Items.Count();

        AssertProblem(await admin.PostAsync("/api/mcp-servers", """{"name": "x", """), HttpStatusCode.BadRequest);
        AssertProblem(
            await admin.SendAsync(HttpMethod.Post, "/api/mcp-servers", "name=x", "application/x-www-form-urlencoded"),
            HttpStatusCode.UnsupportedMediaType
        );
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", "[1]"), "$", "object");
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", """{"command": "node"}"""), "$", "missing name");
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", """{"name": "x", "command": 5}"""), "$.command", "expected a string, got a number");
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", """{"name": "x", "command": "node", "args": ["a", 1]}"""), "$.args[1]", "expected a string");
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", """{"name": "x", "command": "node", "bogus": true}"""), "$.bogus", "unknown key");
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", """{"name": "a__b", "command": "node"}"""), "$.name", "__");
        AssertInvalid(await admin.PostAsync("/api/mcp-servers", """{"name": "x", "url": "ftp://nope"}"""), "$.url", "http");
        AssertInvalid(await admin.PostAsync("/api/profiles", """{"name": "p", "servers": ["nope"]}"""), "$.servers[0]", "unknown server 'nope'");
        AssertInvalid(await admin.PostAsync("/api/profiles", """{"name": "p", "servers": ["filesrv"], "tokens": ["env:X"]}"""), "$.tokens", "/api/tokens");
        AssertInvalid(
            await admin.PostAsync("/api/profiles", """{"name": "p", "servers": ["filesrv"], "toolPrefix": 3}"""),
            "$.toolPrefix",
            "expected a string"
        );
        AssertInvalid(
            await admin.PostAsync(
                "/api/policies/tool-invocation",
                """
                {"tool": "filesrv__echo", "action": "block_always", "conditions": [{"key": "message", "operator": "matches", "value": "x"}]}
                """
            ),
            "$.conditions[0].operator",
            "unknown operator"
        );
        AssertInvalid(await admin.PostAsync("/api/policies/tool-invocation", """{"tool": "filesrv__echo", "action": "explode"}"""), "$.action", "explode");
        AssertInvalid(await admin.PostAsync("/api/policies/trusted-data", """{"tool": "nowhere__x", "action": "mark_as_trusted"}"""), "$.tool", "nowhere");
        AssertInvalid(
            await admin.PostAsync("/api/policies/tool-invocation", """{"id": "mine", "tool": "filesrv__echo", "action": "block_always"}"""),
            "$.id",
            "assigned by the server"
        );
        AssertInvalid(await admin.PostAsync("/api/policies/tool-invocation", """{"tool": "filesrv__echo"}"""), "$", "missing action");
        AssertInvalid(await admin.PostAsync("/api/admin-keys", """{"name": "k", "scope": "everything"}"""), "$.scope", "read-only");
        AssertInvalid(await admin.PostAsync("/api/tokens", """{"name": "t", "profile": "ghost"}"""), "$.profile", "unknown profile");
        AssertInvalid(await admin.GetAsync("/api/audit/mcp-tool-calls?limit=0"), "query.limit", "from 1 to 1000");
        AssertInvalid(await admin.GetAsync("/api/audit/mcp-tool-calls?cursor=abc"), "query.cursor", "cursor");
        AssertInvalid(await admin.GetAsync("/api/audit/llm-interactions?from=yesterday&sort=up"), "query.from", "ISO 8601");

        Assert.DoesNotContain((await admin.GetAsync("/api/mcp-servers")).Items, s => s.GetProperty("name").GetString() == "x");
        Assert.DoesNotContain((await admin.GetAsync("/api/profiles")).Items, s => s.GetProperty("name").GetString() == "p");
        Assert.Equal(before, (await admin.GetAsync("/api/audit/admin-changes")).Items.Count());
    }

    [Fact]
    public async Task File_managed_resources_are_listed_and_read_only_and_their_names_are_taken()
    {
        using var admin = Root();
        var servers = await admin.GetAsync("/api/mcp-servers");
        Assert.Contains(servers.Items, s => s.GetProperty("name").GetString() == "filesrv" && s.GetProperty("managedBy").GetString() == "file");
        var profiles = await admin.GetAsync("/api/profiles");
        Assert.Contains(profiles.Items, s => s.GetProperty("name").GetString() == "fileprof" && s.GetProperty("managedBy").GetString() == "file");
        var keys = await admin.GetAsync("/api/admin-keys");
        Assert.Contains(keys.Items, k => k.GetProperty("name").GetString() == "reader" && k.GetProperty("scope").GetString() == "read-only");

        var put = await admin.PutAsync("/api/mcp-servers/filesrv", """{"command": "node"}""");
        AssertProblem(put, HttpStatusCode.Conflict);
        Assert.Contains("configuration file", put.Json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        AssertProblem(await admin.DeleteAsync("/api/mcp-servers/filesrv"), HttpStatusCode.Conflict);
        AssertProblem(await admin.DeleteAsync("/api/profiles/fileprof"), HttpStatusCode.Conflict);
        AssertProblem(await admin.PutAsync("/api/tools/fileprof/filesrv__echo", """{"resultTreatment": "trusted"}"""), HttpStatusCode.Conflict);
        AssertProblem(await admin.PostAsync("/api/tokens", """{"name": "t", "profile": "fileprof"}"""), HttpStatusCode.Conflict);
        AssertProblem(await admin.DeleteAsync("/api/admin-keys/root"), HttpStatusCode.Conflict);
        AssertProblem(await admin.PostAsync("/api/mcp-servers", """{"name": "filesrv", "command": "node"}"""), HttpStatusCode.Conflict);
        AssertProblem(await admin.PostAsync("/api/profiles", """{"name": "fileprof", "servers": ["filesrv"]}"""), HttpStatusCode.Conflict);
        AssertProblem(await admin.PostAsync("/api/admin-keys", """{"name": "root", "scope": "read-only"}"""), HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Names_conflict_unknown_resources_are_404_and_a_new_read_only_key_works_once_created()
    {
        using var admin = Root();
        var created = await admin.PostAsync("/api/mcp-servers", """{"name": "remote1", "url": "http://127.0.0.1:9/mcp"}""");
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        AssertProblem(await admin.PostAsync("/api/mcp-servers", """{"name": "remote1", "url": "http://127.0.0.1:9/mcp"}"""), HttpStatusCode.Conflict);
        var updated = await admin.PutAsync("/api/mcp-servers/remote1", """{"url": "http://127.0.0.1:10/mcp", "timeoutSeconds": 5}""");
        Assert.True(updated.Status == HttpStatusCode.OK, updated.ToString());
        Assert.Equal(5, updated.Json.GetProperty("config").GetProperty("timeoutSeconds").GetInt32());
        AssertInvalid(await admin.PutAsync("/api/mcp-servers/remote1", """{"name": "other", "url": "http://127.0.0.1:10/mcp"}"""), "$.name", "renamed");
        AssertProblem(await admin.GetAsync("/api/mcp-servers/remote2"), HttpStatusCode.NotFound);
        AssertProblem(await admin.PutAsync("/api/mcp-servers/remote2", """{"url": "http://127.0.0.1:10/mcp"}"""), HttpStatusCode.NotFound);
        AssertProblem(await admin.DeleteAsync("/api/profiles/none"), HttpStatusCode.NotFound);
        AssertProblem(await admin.DeleteAsync("/api/policies/tool-invocation/none"), HttpStatusCode.NotFound);
        AssertProblem(await admin.DeleteAsync("/api/tokens/none"), HttpStatusCode.NotFound);
        AssertProblem(await admin.GetAsync("/api/mcp-servers/none/status"), HttpStatusCode.NotFound);
        AssertProblem(await admin.GetAsync("/api/mcp-servers/remote1/logs"), HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/mcp-servers/remote1")).Status);

        var key = await admin.PostAsync("/api/admin-keys", """{"name": "auditor", "scope": "read-only"}""");
        Assert.True(key.Status == HttpStatusCode.Created, key.ToString());
        var secret = key.Json.GetProperty("key").GetString()!;
        Assert.StartsWith("arc_admin_", secret, StringComparison.Ordinal);
        using (var auditor = new AdminClient(_fixture.Gateway.Server.AdminUrl, secret))
        {
            Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync("/api/mcp-servers")).Status);
            AssertProblem(await auditor.DeleteAsync("/api/admin-keys/auditor"), HttpStatusCode.Forbidden);
        }

        Assert.DoesNotContain(secret, (await admin.GetAsync("/api/admin-keys")).Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/admin-keys/auditor")).Status);
        using (var revoked = new AdminClient(_fixture.Gateway.Server.AdminUrl, secret))
        {
            AssertProblem(await revoked.GetAsync("/api/mcp-servers"), HttpStatusCode.Unauthorized);
        }

        var changes = (await admin.GetAsync("/api/audit/admin-changes")).Items.ToList();
        Assert.Contains(changes, c => c.GetProperty("resourceKind").GetString() == "admin-key" && c.GetProperty("action").GetString() == "delete");
        Assert.Contains(changes, c => c.GetProperty("resourceId").GetString() == "remote1" && c.GetProperty("action").GetString() == "update");
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_exactly_the_admin_listeners_routes()
    {
        using var anonymous = new AdminClient(_fixture.Gateway.Server.AdminUrl, null);
        var reply = await anonymous.GetAsync("/api/openapi.json");
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        Assert.Equal("3.1.0", reply.Json.GetProperty("openapi").GetString());
        var documented = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var path in reply.Json.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                documented.Add($"{operation.Name.ToUpperInvariant()} {path.Name}");
                Assert.False(string.IsNullOrEmpty(operation.Value.GetProperty("operationId").GetString()));
            }
        }

        var mapped = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var source in _fixture.Gateway.Server.AdminServices.GetServices<EndpointDataSource>())
        {
            foreach (var endpoint in source.Endpoints.OfType<RouteEndpoint>())
            {
                foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [])
                {
                    mapped.Add($"{method} {endpoint.RoutePattern.RawText}");
                }
            }
        }

        Assert.True(mapped.Count > 30, string.Join("\n", mapped));
        Assert.Equal(mapped, documented);
    }
}

/// <summary>With no admin key in the file and none stored, the gateway creates one at start.</summary>
public sealed class AdminBootstrapTests
{
    [Fact]
    public async Task The_first_start_creates_a_read_write_key_and_the_API_stays_closed_without_it()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig());
        var keys = await gateway.Server.Store.QueryAsync(
            "SELECT name, scope FROM admin_keys",
            r => (r.String(0), r.String(1)),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(("initial", "read-write"), Assert.Single(keys));
        using var anonymous = new AdminClient(gateway.Server.AdminUrl, null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/profiles")).Status);
    }
}
