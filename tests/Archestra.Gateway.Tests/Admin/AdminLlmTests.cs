using System.Net;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>The LLM objects of the admin API: providers (keys sealed, never answered), prices, limits, optimization rules.</summary>
public sealed class AdminLlmTests
{
    /// <summary>32 bytes, base64: what `openssl rand -base64 32` prints.</summary>
    private const string SecretKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    private const string OpenAiKey = "sk-proj-test-0123456789abcdefghijklmnopqrstuvwxyz";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<GatewayHarness> StartAsync(string? secretKey) =>
        GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("filesrv")],
                Profiles = [GatewayHarness.Profile("fileprof", "filesrv")],
            },
            getEnv: name => name == "ARCHESTRA_SECRET_KEY" ? secretKey : Environment.GetEnvironmentVariable(name)
        );

    private static void AssertInvalid(Reply reply, string path, string messagePart)
    {
        Assert.True(reply.Status == HttpStatusCode.UnprocessableEntity, reply.ToString());
        Assert.Equal("application/problem+json", reply.ContentType);
        Assert.Contains(reply.Errors, e => e.Path == path && e.Message.Contains(messagePart, StringComparison.Ordinal));
    }

    private static void AssertStatus(HttpStatusCode status, Reply reply) => Assert.True(reply.Status == status, reply.ToString());

    [Fact]
    public async Task A_providers_keys_are_stored_sealed_never_answered_and_decrypt_to_the_plaintext()
    {
        await using var gateway = await StartAsync(SecretKey);
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        var created = await admin.PostAsync(
            "/api/llm/providers",
            $$"""{"name": "oai", "kind": "openai", "apiKeys": [{"name": "main", "key": "{{OpenAiKey}}"}]}"""
        );
        AssertStatus(HttpStatusCode.Created, created);
        Assert.Equal("https://api.openai.com/v1", created.Json.GetProperty("baseUrl").GetString());
        var key = Assert.Single(created.Json.GetProperty("apiKeys").EnumerateArray());
        Assert.Equal("main", key.GetProperty("name").GetString());
        Assert.True(key.GetProperty("hasKey").GetBoolean());

        var list = await admin.GetAsync("/api/llm/providers");
        var one = await admin.GetAsync("/api/llm/providers/oai");
        var changes = await admin.GetAsync("/api/audit/admin-changes");
        foreach (var reply in new[] { created, list, one, changes })
        {
            Assert.DoesNotContain("sk-proj", reply.Text, StringComparison.Ordinal);
        }

        Assert.Equal("anthropic", (await admin.PutAsync("/api/llm/providers/oai", """{"kind": "anthropic"}""")).Json.GetProperty("kind").GetString());

        // The row holds AES-GCM ciphertext, not the key; the store opens it with the secret key.
        var store = gateway.Server.Store;
        var rows = await store.QueryAsync(
            "SELECT p.id, k.ciphertext FROM llm_providers p JOIN llm_provider_keys k ON k.provider_id = p.id WHERE p.name = 'oai'",
            r => (Id: r.Guid(0), Ciphertext: (byte[])r.Value(1)),
            Ct
        );
        var (providerId, ciphertext) = Assert.Single(rows);
        var plaintext = Encoding.UTF8.GetBytes(OpenAiKey);
        Assert.False(ciphertext.AsSpan().SequenceEqual(plaintext));
        Assert.Equal(-1, ciphertext.AsSpan().IndexOf(plaintext.AsSpan(0, 16)));
        Assert.Equal(OpenAiKey, await store.LlmProviders.GetKeyAsync(providerId, "main", Ct));

        // A PUT without apiKeys keeps them; with apiKeys they become the whole set.
        var replaced = await admin.PutAsync(
            "/api/llm/providers/oai",
            """{"kind": "openai", "baseUrl": "http://127.0.0.1:1/v1", "apiKeys": [{"name": "backup", "key": "sk-other"}]}"""
        );
        AssertStatus(HttpStatusCode.OK, replaced);
        Assert.Equal("backup", Assert.Single(replaced.Json.GetProperty("apiKeys").EnumerateArray()).GetProperty("name").GetString());
        Assert.Null(await store.LlmProviders.GetKeyAsync(providerId, "main", Ct));
        Assert.Equal("sk-other", await store.LlmProviders.GetKeyAsync(providerId, "backup", Ct));

        AssertStatus(HttpStatusCode.Conflict, await admin.PostAsync("/api/llm/providers", """{"name": "oai", "kind": "openai"}"""));
        AssertStatus(HttpStatusCode.NoContent, await admin.DeleteAsync("/api/llm/providers/oai"));
        AssertStatus(HttpStatusCode.NotFound, await admin.GetAsync("/api/llm/providers/oai"));
        Assert.Empty(await store.QueryAsync("SELECT name FROM llm_provider_keys", r => r.String(0), Ct));
        var kinds = (await admin.GetAsync("/api/audit/admin-changes"))
            .Items.Select(c => c.GetProperty("resourceKind").GetString() + " " + c.GetProperty("action").GetString())
            .ToList();
        Assert.Equal(["llm-provider delete", "llm-provider update", "llm-provider update", "llm-provider create"], kinds.Take(4));
    }

    [Fact]
    public async Task Without_ARCHESTRA_SECRET_KEY_a_provider_with_keys_is_refused_and_one_without_is_accepted()
    {
        await using var gateway = await StartAsync(null);
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        var refused = await admin.PostAsync(
            "/api/llm/providers",
            """{"name": "claude", "kind": "anthropic", "apiKeys": [{"name": "main", "key": "sk-ant-x"}]}"""
        );
        AssertInvalid(refused, "$.apiKeys", "ARCHESTRA_SECRET_KEY");
        Assert.Contains("ARCHESTRA_SECRET_KEY", refused.Json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        AssertStatus(HttpStatusCode.NotFound, await admin.GetAsync("/api/llm/providers/claude"));

        var accepted = await admin.PostAsync("/api/llm/providers", """{"name": "claude", "kind": "anthropic"}""");
        AssertStatus(HttpStatusCode.Created, accepted);
        Assert.Equal("https://api.anthropic.com", accepted.Json.GetProperty("baseUrl").GetString());
        Assert.Empty(accepted.Json.GetProperty("apiKeys").EnumerateArray());
    }

    [Fact]
    public async Task Bad_LLM_bodies_are_refused_with_the_json_path_of_each_problem()
    {
        await using var gateway = await StartAsync(SecretKey);
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        AssertInvalid(await admin.PostAsync("/api/llm/providers", """{"name": "x", "kind": "mistral"}"""), "$.kind", "openai, anthropic, gemini");
        AssertInvalid(await admin.PostAsync("/api/llm/providers", """{"name": "x", "kind": "openai", "baseUrl": "ftp://h"}"""), "$.baseUrl", "http(s)");
        AssertInvalid(
            await admin.PostAsync("/api/llm/providers", """{"name": "x", "kind": "openai", "apiKeys": [{"name": "a"}]}"""),
            "$.apiKeys[0]",
            "missing key"
        );
        AssertInvalid(
            await admin.PostAsync(
                "/api/llm/providers",
                """{"name": "x", "kind": "openai", "apiKeys": [{"name": "a", "key": "1"}, {"name": "a", "key": "2"}]}"""
            ),
            "$.apiKeys[1].name",
            "twice"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/providers", """{"name": "x", "kind": "openai", "apiKeys": [{"name": "a", "key": "1", "bogus": 1}]}"""),
            "$.apiKeys[0].bogus",
            "unknown key"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/prices", """{"model": "gpt-4o", "inputPerMillion": -1, "outputPerMillion": 10}"""),
            "$.inputPerMillion",
            "US dollars"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/prices", """{"model": "gpt-4o", "inputPerMillion": "2.5", "outputPerMillion": 10}"""),
            "$.inputPerMillion",
            "US dollars"
        );
        AssertInvalid(await admin.PostAsync("/api/llm/prices", """{"model": "a/b", "inputPerMillion": 1, "outputPerMillion": 1}"""), "$.model", "'/'");
        AssertInvalid(
            await admin.PostAsync("/api/llm/limits", """{"profile": "ghost", "kind": "tokens", "period": "day", "value": 10}"""),
            "$.profile",
            "ghost"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/limits", """{"profile": "fileprof", "kind": "requests", "period": "day", "value": 10}"""),
            "$.kind",
            "tokens, usd"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/limits", """{"profile": "fileprof", "kind": "tokens", "period": "week", "value": 10}"""),
            "$.period",
            "day, month, total"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/limits", """{"profile": "fileprof", "kind": "tokens", "period": "day", "value": 1.5}"""),
            "$.value",
            "whole number"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/limits", """{"profile": "fileprof", "kind": "usd", "period": "day", "value": 0}"""),
            "$.value",
            "more than 0"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/optimization-rules", """{"conditions": {}, "targetModel": "gpt-4o-mini"}"""),
            "$.conditions",
            "at least one condition"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/optimization-rules", """{"conditions": {"maxInputTokens": 0}, "targetModel": "m"}"""),
            "$.conditions.maxInputTokens",
            "whole number"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/optimization-rules", """{"conditions": {"hasTools": "no"}, "targetModel": "m"}"""),
            "$.conditions.hasTools",
            "boolean"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/optimization-rules", """{"conditions": {"maxInputChars": 10, "color": 1}, "targetModel": "m"}"""),
            "$.conditions.color",
            "unknown key"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/optimization-rules", """{"id": "mine", "conditions": {"hasTools": false}, "targetModel": "m"}"""),
            "$.id",
            "assigned by the server"
        );
        AssertInvalid(
            await admin.PostAsync("/api/llm/optimization-rules", """{"profile": "ghost", "conditions": {"hasTools": false}, "targetModel": "m"}"""),
            "$.profile",
            "ghost"
        );
        Assert.Empty((await admin.GetAsync("/api/audit/admin-changes")).Items);
    }

    [Fact]
    public async Task Prices_limits_and_optimization_rules_are_created_listed_replaced_and_deleted_with_a_change_each()
    {
        await using var gateway = await StartAsync(null);
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);

        var price = await admin.PostAsync(
            "/api/llm/prices",
            """{"model": "gpt-4o", "inputPerMillion": 2.5, "outputPerMillion": 10, "cachedInputPerMillion": 1.25}"""
        );
        AssertStatus(HttpStatusCode.Created, price);
        AssertStatus(HttpStatusCode.Conflict, await admin.PostAsync("/api/llm/prices", """{"model": "gpt-4o", "inputPerMillion": 1, "outputPerMillion": 1}"""));
        var read = (await admin.GetAsync("/api/llm/prices/gpt-4o")).Json;
        Assert.Equal("2.5", read.GetProperty("inputPerMillion").GetRawText());
        Assert.Equal("1.25", read.GetProperty("cachedInputPerMillion").GetRawText());
        var updated = await admin.PutAsync("/api/llm/prices/gpt-4o", """{"inputPerMillion": 0.000123, "outputPerMillion": 0}""");
        AssertStatus(HttpStatusCode.OK, updated);
        Assert.Equal("0.000123", (await admin.GetAsync("/api/llm/prices")).Items.Single().GetProperty("inputPerMillion").GetRawText());
        Assert.False((await admin.GetAsync("/api/llm/prices/gpt-4o")).Json.TryGetProperty("cachedInputPerMillion", out _));
        AssertStatus(HttpStatusCode.NotFound, await admin.PutAsync("/api/llm/prices/none", """{"inputPerMillion": 1, "outputPerMillion": 1}"""));

        // Limits name a profile: the file's, or one made through the API (which then cannot be deleted under them).
        var limit = await admin.PostAsync("/api/llm/limits", """{"profile": "fileprof", "kind": "usd", "period": "month", "value": 12.5}""");
        AssertStatus(HttpStatusCode.Created, limit);
        var limitId = limit.Json.GetProperty("id").GetString()!;
        AssertStatus(
            HttpStatusCode.Conflict,
            await admin.PostAsync("/api/llm/limits", """{"profile": "fileprof", "kind": "usd", "period": "month", "value": 1}""")
        );
        AssertStatus(HttpStatusCode.Created, await admin.PostAsync("/api/profiles", """{"name": "team", "servers": ["filesrv"]}"""));
        var tokens = await admin.PostAsync("/api/llm/limits", """{"profile": "team", "kind": "tokens", "period": "total", "value": 5000000000}""");
        AssertStatus(HttpStatusCode.Created, tokens);
        Assert.Equal("5000000000", tokens.Json.GetProperty("value").GetRawText());
        var limits = (await admin.GetAsync("/api/llm/limits")).Items.ToList();
        Assert.Equal(["12.5", "5000000000"], limits.Select(l => l.GetProperty("value").GetRawText()));
        AssertStatus(HttpStatusCode.Conflict, await admin.DeleteAsync("/api/profiles/team"));
        var changedLimit = await admin.PutAsync($"/api/llm/limits/{limitId}", """{"profile": "fileprof", "kind": "tokens", "period": "day", "value": 1000}""");
        AssertStatus(HttpStatusCode.OK, changedLimit);
        Assert.Equal("tokens", (await admin.GetAsync($"/api/llm/limits/{limitId}")).Json.GetProperty("kind").GetString());

        var rule = await admin.PostAsync(
            "/api/llm/optimization-rules",
            """{"profile": "team", "conditions": {"maxInputTokens": 1000, "hasTools": false, "requestedModel": "gpt-4o*"}, "targetModel": "gpt-4o-mini"}"""
        );
        AssertStatus(HttpStatusCode.Created, rule);
        var ruleId = rule.Json.GetProperty("id").GetString()!;
        Assert.True(rule.Json.GetProperty("enabled").GetBoolean());
        var global = await admin.PostAsync(
            "/api/llm/optimization-rules",
            """{"conditions": {"maxInputChars": 2000}, "targetModel": "claude-haiku-4-5", "enabled": false}"""
        );
        AssertStatus(HttpStatusCode.Created, global);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, global.Json.GetProperty("profile").ValueKind);
        var rules = (await admin.GetAsync("/api/llm/optimization-rules")).Items.ToList();
        Assert.Equal(2, rules.Count);
        Assert.Equal("gpt-4o*", rules[0].GetProperty("conditions").GetProperty("requestedModel").GetString());
        Assert.False(rules[0].GetProperty("conditions").GetProperty("hasTools").GetBoolean());
        var changedRule = await admin.PutAsync(
            $"/api/llm/optimization-rules/{ruleId}",
            """{"conditions": {"maxInputTokens": 500}, "targetModel": "gpt-4.1-nano", "enabled": false}"""
        );
        AssertStatus(HttpStatusCode.OK, changedRule);
        var reread = (await admin.GetAsync($"/api/llm/optimization-rules/{ruleId}")).Json;
        Assert.Equal("gpt-4.1-nano", reread.GetProperty("targetModel").GetString());
        Assert.False(reread.GetProperty("conditions").TryGetProperty("hasTools", out _));

        AssertStatus(HttpStatusCode.NoContent, await admin.DeleteAsync($"/api/llm/optimization-rules/{ruleId}"));
        AssertStatus(HttpStatusCode.NoContent, await admin.DeleteAsync($"/api/llm/limits/{tokens.Json.GetProperty("id").GetString()}"));
        AssertStatus(HttpStatusCode.NoContent, await admin.DeleteAsync("/api/profiles/team"));
        AssertStatus(HttpStatusCode.NoContent, await admin.DeleteAsync("/api/llm/prices/gpt-4o"));
        AssertStatus(HttpStatusCode.NotFound, await admin.DeleteAsync("/api/llm/prices/gpt-4o"));
        AssertStatus(HttpStatusCode.NotFound, await admin.GetAsync($"/api/llm/optimization-rules/{ruleId}"));

        var changes = (await admin.GetAsync("/api/audit/admin-changes?limit=100"))
            .Items.Select(c => $"{c.GetProperty("resourceKind").GetString()} {c.GetProperty("action").GetString()}")
            .Reverse()
            .ToList();
        Assert.Equal(
            [
                "llm-price create",
                "llm-price update",
                "llm-limit create",
                "profile create",
                "llm-limit create",
                "llm-limit update",
                "llm-optimization-rule create",
                "llm-optimization-rule create",
                "llm-optimization-rule update",
                "llm-optimization-rule delete",
                "llm-limit delete",
                "profile delete",
                "llm-price delete",
            ],
            changes
        );
    }
}
