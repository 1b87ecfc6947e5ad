using System.Net;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Json.Schema;

namespace Archestra.Gateway.Tests.Admin;

/// <summary>
/// The OpenAPI document against the running gateway: every body the admin API answers for a resource (each list, each
/// item of it, each creation) validates against the schema the document names for it, with JsonSchema.Net (a
/// validator written elsewhere). A body that gains, loses or retypes a property without its schema fails here.
/// </summary>
public sealed class AdminOpenApiTests
{
    private const string SecretKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    private static readonly EvaluationOptions s_options = new() { OutputFormat = OutputFormat.List };

    [Fact(Timeout = 120_000)]
    public async Task Every_resource_body_the_gateway_answers_matches_the_schema_its_OpenAPI_document_gives_it()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("filesrv")],
                Profiles = [GatewayHarness.Profile("fileprof", "filesrv")],
            },
            getEnv: name => name == "ARCHESTRA_SECRET_KEY" ? SecretKey : Environment.GetEnvironmentVariable(name)
        );
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        var document = (await admin.GetAsync("/api/openapi.json")).Json;
        var schemas = document.GetProperty("components").GetProperty("schemas");

        // One of every resource, through the API; each creation's answer is checked against its schema too.
        string[] creations =
        [
            "/api/mcp-servers",
            """{"name": "remote1", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "env:HOME"}}""",
            "/api/profiles",
            """{"name": "team", "description": "the team", "servers": ["remote1"], "tools": {"*": {"allowUsageWhenUntrustedDataIsPresent": true}}}""",
            "/api/tokens",
            """{"name": "ci", "profile": "team"}""",
            "/api/policies/tool-invocation",
            """{"tool": "remote1__echo", "action": "block_always", "reason": "no", "conditions": [{"key": "a", "operator": "equal", "value": "x"}]}""",
            "/api/policies/trusted-data",
            """{"tool": "remote1__echo", "action": "mark_as_trusted", "conditions": [{"key": "content", "operator": "contains", "value": "ok"}]}""",
            "/api/admin-keys",
            """{"name": "script", "scope": "read-only"}""",
            "/api/llm/providers",
            """{"name": "oai", "kind": "openai", "apiKeys": [{"name": "main", "key": "sk-proj-test-0123456789"}], "retries": 1}""",
            "/api/llm/prices",
            """{"model": "gpt-4o", "inputPerMillion": 2.5, "outputPerMillion": 10, "cachedInputPerMillion": 1.25}""",
            "/api/llm/prices",
            """{"model": "gpt-4o-mini", "inputPerMillion": 0.15, "outputPerMillion": 0.6}""",
            "/api/llm/limits",
            """{"profile": "team", "kind": "usd", "period": "month", "value": 12.5}""",
            "/api/llm/optimization-rules",
            """{"profile": "team", "conditions": {"maxInputTokens": 1000, "hasTools": false}, "targetModel": "gpt-4o-mini"}""",
            "/api/llm/optimization-rules",
            """{"conditions": {"requestedModel": "gpt-4*"}, "targetModel": "gpt-4o-mini", "enabled": false}""",
        ];
        var checkedBodies = 0;
        for (var i = 0; i < creations.Length; i += 2)
        {
            var created = await admin.PostAsync(creations[i], creations[i + 1]);
            Assert.True(created.Status == HttpStatusCode.Created, $"{creations[i]}: {created}");
            AssertRequestMatches(schemas, Operation(document, creations[i], "post"), creations[i + 1]);
            AssertMatches(schemas, Operation(document, creations[i], "post"), "201", created);
            checkedBodies++;
        }

        // A tool setting: the request and the answer.
        const string setting = """{"resultTreatment": "trusted", "allowUsageWhenUntrustedDataIsPresent": true}""";
        var put = await admin.PutAsync("/api/tools/team/remote1__echo", setting);
        Assert.True(put.Status == HttpStatusCode.OK, put.ToString());
        AssertRequestMatches(schemas, Operation(document, "/api/tools/{profile}/{tool}", "put"), setting);
        AssertMatches(schemas, Operation(document, "/api/tools/{profile}/{tool}", "put"), "200", put);
        Assert.Equal("trusted", put.Json.GetProperty("settings").GetProperty("resultTreatment").GetString());
        var stored = await admin.GetAsync("/api/tools/team/remote1__echo");
        AssertMatches(schemas, Operation(document, "/api/tools/{profile}/{tool}", "get"), "200", stored);
        checkedBodies += 2;

        // One tool call, so the audit list has a row (the writer flushes within its interval).
        using (var http = new HttpClient())
        {
            using var call = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}""");
            call.Headers.ContentType = new("application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpUrl("fileprof")) { Content = call };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            using var answer = await http.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        for (var i = 0; i < 100 && !(await admin.GetAsync("/api/audit/mcp-tool-calls")).Items.Any(); i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        // Every GET the document gives a schema: the lists, then each listed item through its own route.
        var lists = 0;
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            if (path.Name.Contains('{', StringComparison.Ordinal) || !path.Value.TryGetProperty("get", out var get) || SchemaRef(get, "200") is null)
            {
                continue;
            }

            var list = await admin.GetAsync(path.Name);
            AssertMatches(schemas, get, "200", list);
            lists++;
            checkedBodies++;
            // No LLM traffic here: those two lists are checked empty.
            Assert.True(list.Items.Any() || path.Name is "/api/audit/llm-interactions" or "/api/usage", $"{path.Name} lists nothing");
            var item = document
                .GetProperty("paths")
                .EnumerateObject()
                .FirstOrDefault(p =>
                    p.Name.StartsWith(path.Name + "/{", StringComparison.Ordinal)
                    && p.Name.IndexOf('/', path.Name.Length + 1) < 0
                    && p.Value.TryGetProperty("get", out _)
                );
            if (item.Value.ValueKind != JsonValueKind.Object)
            {
                continue; // tokens and admin keys are listed, never read one by one
            }

            var key = item.Name[(path.Name.Length + 2)..^1];
            foreach (var listed in list.Items)
            {
                var one = await admin.GetAsync($"{path.Name}/{Uri.EscapeDataString(listed.GetProperty(key).GetString()!)}");
                Assert.True(one.Status == HttpStatusCode.OK, $"{item.Name} {key}={listed.GetProperty(key)}: {one}");
                AssertMatches(schemas, item.Value.GetProperty("get"), "200", one);
                checkedBodies++;
            }
        }

        // Servers, profiles, tokens, two policy kinds, admin keys, providers, prices, limits, optimization rules, tools; tool
        // calls, LLM interactions (none here: their page is checked empty), admin changes, usage (empty too).
        Assert.Equal(15, lists);
        Assert.True(checkedBodies >= 37, $"{checkedBodies} bodies checked");
    }

    [Fact(Timeout = 120_000)]
    public async Task Every_JSON_body_in_the_document_names_its_schema()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig { AdminKeys = AdminClient.FileKeys });
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        var document = (await admin.GetAsync("/api/openapi.json")).Json;
        string[] untyped =
        [
            "get /api/openapi.json 200", // the document itself: OpenAPI's own schema
        ];
        var bodies = 0;
        var missing = new List<string>();
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                if (operation.Value.TryGetProperty("requestBody", out var request))
                {
                    bodies++;
                    if (!JsonSchemaIsReference(request, out var what))
                    {
                        missing.Add($"{operation.Name} {path.Name} request: {what}");
                    }
                }

                foreach (var response in operation.Value.GetProperty("responses").EnumerateObject().Where(r => r.Name.StartsWith('2')))
                {
                    var label = $"{operation.Name} {path.Name} {response.Name}";
                    if (response.Value.TryGetProperty("content", out var content) && content.TryGetProperty("application/json", out _))
                    {
                        bodies++;
                        if (!JsonSchemaIsReference(response.Value, out var what) && !untyped.Contains(label))
                        {
                            missing.Add($"{label}: {what}");
                        }
                    }
                }
            }
        }

        Assert.True(bodies > 60, $"only {bodies} JSON bodies in the document");
        Assert.True(missing.Count == 0, "JSON bodies without a schema:\n" + string.Join("\n", missing));
    }

    private static bool JsonSchemaIsReference(JsonElement body, out string schema)
    {
        var json = body.GetProperty("content").GetProperty("application/json").GetProperty("schema");
        schema = json.GetRawText();
        return json.TryGetProperty("$ref", out _);
    }

    private static void AssertRequestMatches(JsonElement schemas, JsonElement operation, string body)
    {
        var reference = operation.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        Assert.True(reference.TryGetProperty("$ref", out var name), $"no request schema: {operation}");
        var schema = name.GetString()!["#/components/schemas/".Length..];
        var result = Evaluate(JsonSchema.FromText(schemas.GetProperty(schema).GetRawText()), body);
        Assert.True(result.IsValid, $"{schema}: {body}\n" + string.Join("\n", Problems(result)));
    }

    [Fact(Timeout = 120_000)]
    public async Task The_schemas_require_what_every_body_has_and_refuse_what_none_has()
    {
        await using var gateway = await GatewayHarness.StartAsync(new GatewayConfig { AdminKeys = AdminClient.FileKeys });
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        var schemas = (await admin.GetAsync("/api/openapi.json")).Json.GetProperty("components").GetProperty("schemas");
        var price = JsonSchema.FromText(schemas.GetProperty("Price").GetRawText());
        const string time = "\"2026-12-06T00:00:00Z\"";
        const string valid =
            $$"""{"model": "m", "inputPerMillion": 1, "outputPerMillion": 2, "managedBy": "api", "createdAt": {{time}}, "updatedAt": {{time}}}""";
        Assert.True(Evaluate(price, valid).IsValid);
        Assert.False(Evaluate(price, valid.Replace("\"model\": \"m\", ", "", StringComparison.Ordinal)).IsValid);
        Assert.False(Evaluate(price, valid.Replace("\"inputPerMillion\": 1", "\"inputPerMillion\": \"1\"", StringComparison.Ordinal)).IsValid);
        Assert.False(Evaluate(price, valid.Replace("{", "{\"extra\": 1, ", StringComparison.Ordinal)).IsValid);
        Assert.False(Evaluate(JsonSchema.FromText(schemas.GetProperty("PriceList").GetRawText()), "{}").IsValid);

        // A request schema names exactly the keys its reader accepts.
        var request = schemas.GetProperty("PriceRequest").GetProperty("properties").EnumerateObject().Select(p => p.Name);
        Assert.Equal(["model", "inputPerMillion", "outputPerMillion", "cachedInputPerMillion"], request);
        var unknown = await admin.PostAsync("/api/llm/prices", """{"model": "m", "inputPerMillion": 1, "outputPerMillion": 1, "bogus": 1}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.Status);
        Assert.Contains(unknown.Errors, e =>
            e.Path == "$.bogus" && e.Message.Contains("model, inputPerMillion, outputPerMillion, cachedInputPerMillion", StringComparison.Ordinal)
        );
    }

    private static JsonElement Operation(JsonElement document, string path, string method) =>
        document.GetProperty("paths").GetProperty(path).GetProperty(method);

    private static string? SchemaRef(JsonElement operation, string status) =>
        operation.GetProperty("responses").TryGetProperty(status, out var response)
        && response.TryGetProperty("content", out var content)
        && content.TryGetProperty("application/json", out var json)
        && json.GetProperty("schema").TryGetProperty("$ref", out var reference)
            ? reference.GetString()
            : null;

    private static void AssertMatches(JsonElement schemas, JsonElement operation, string status, Reply reply)
    {
        var reference = SchemaRef(operation, status);
        Assert.True(reference is not null, $"no schema for {status}: {operation}");
        var name = reference!["#/components/schemas/".Length..];
        var result = Evaluate(JsonSchema.FromText(schemas.GetProperty(name).GetRawText()), reply.Text);
        Assert.True(result.IsValid, $"{name}: {reply.Text}\n" + string.Join("\n", Problems(result)));
    }

    private static EvaluationResults Evaluate(JsonSchema schema, string json)
    {
        using var doc = JsonDocument.Parse(json);
        return schema.Evaluate(doc.RootElement, s_options);
    }

    private static IEnumerable<string> Problems(EvaluationResults result) =>
        (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"));
}
