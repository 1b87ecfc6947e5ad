using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>
/// The recording server as "web" (its results are untrusted: the first one taints the session) and "mail" (get_* may run
/// once untrusted, delete_repo is blocked always, the rest only in a trusted context), with the real policies, in the
/// profiles "agent" (dynamic tools, the default), "static" (dynamicTools off) and "only" (builtinTools only).
/// </summary>
public sealed class BuiltinToolsFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("archestra-builtins-").FullName;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public IReadOnlyList<string> Calls(string server) =>
        File.Exists(Path.Combine(_directory, server + ".calls")) ? File.ReadAllLines(Path.Combine(_directory, server + ".calls")) : [];

    public async ValueTask InitializeAsync()
    {
        var web = ToolSelectionFixture.Server(Path.Combine(_directory, "web.calls"));
        var mail = ToolSelectionFixture.Server(Path.Combine(_directory, "mail.calls"));
        var mayRun = """{ "resultTreatment": "trusted", "allowUsageWhenUntrustedDataIsPresent": true }""";
        var tools = $$"""{ "mail__*": { "resultTreatment": "trusted" }, "mail__get_issue": {{mayRun}}, "mail__get_repo": {{mayRun}} }""";
        var config = $$"""
            {
              "mcpServers": { "web": {{web}}, "mail": {{mail}} },
              "profiles": {
                "agent": { "servers": ["web", "mail"], "tools": {{tools}} },
                "static": { "servers": ["web", "mail"], "tools": {{tools}}, "dynamicTools": false },
                "only": { "servers": ["web", "mail"], "tools": {{tools}}, "builtinTools": "only" }
              },
              "policies": {
                "toolInvocation": [
                  { "id": "never-delete", "tool": "mail__delete_repo", "action": "block_always", "reason": "repositories stay" }
                ]
              }
            }
            """;
        var path = Path.Combine(_directory, "archestra.json");
        await File.WriteAllTextAsync(path, config);
        var loaded = ConfigLoader.Load(path, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        Gateway = await GatewayHarness.StartAsync(loaded.Config! with { AdminKeys = AdminClient.FileKeys }, enforceToolDefaults: true);
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }
}

public sealed class BuiltinToolsTests : IClassFixture<BuiltinToolsFixture>
{
    private static readonly string[] Builtins = ["archestra__explain", "archestra__search_tools", "archestra__whoami"];
    private readonly BuiltinToolsFixture _fixture;

    public BuiltinToolsTests(BuiltinToolsFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<McpClient> ConnectAsync(string profile, bool modern = false)
    {
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl(profile), TransportMode = HttpTransportMode.StreamableHttp }
        );
        return McpClient.CreateAsync(transport, modern ? new McpClientOptions() : LegacyClient.Options(), cancellationToken: Ct);
    }

    private static async Task<List<string>> NamesAsync(McpClient client) =>
        (await client.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).Order(StringComparer.Ordinal).ToList();

    private static async Task<JsonElement> BuiltinAsync(McpClient client, string tool, Dictionary<string, object?>? arguments = null)
    {
        var result = await client.CallToolAsync(tool, arguments, cancellationToken: Ct);
        Assert.NotEqual(true, result.IsError);
        var text = Assert.IsType<TextContentBlock>(result.Content.Single()).Text;
        var structured = JsonDocument.Parse(text).RootElement;
        Assert.Equal(structured.GetRawText(), result.StructuredContent!.Value.GetRawText());
        return structured;
    }

    [Fact]
    public async Task A_trusted_session_lists_the_built_ins_and_every_tool_but_the_one_blocked_always()
    {
        await using var client = await ConnectAsync("agent");
        var names = await NamesAsync(client);
        Assert.Equal(16, names.Count);
        Assert.Contains("mail__create_issue", names);
        Assert.DoesNotContain("mail__delete_repo", names);
        Assert.Contains("web__delete_repo", names);
        Assert.Equal(Builtins, names.Where(n => n.StartsWith("archestra__", StringComparison.Ordinal)));

        // Without dynamic tools the blocked tool is listed (and still refused when called).
        await using var plain = await ConnectAsync("static");
        Assert.Contains("mail__delete_repo", await NamesAsync(plain));
        var refused = await plain.CallToolAsync("mail__delete_repo", cancellationToken: Ct);
        Assert.True(refused.IsError);
        Assert.Equal("blocked by policy never-delete: repositories stay", Assert.IsType<TextContentBlock>(refused.Content.Single()).Text);
        Assert.DoesNotContain("delete_repo", _fixture.Calls("mail"));
    }

    [Fact]
    public async Task When_the_session_becomes_untrusted_the_client_is_told_and_the_list_keeps_only_what_may_still_run()
    {
        await using var client = await ConnectAsync("agent");
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var handler = client.RegisterNotificationHandler(NotificationMethods.ToolListChangedNotification, (_, _) =>
        {
            changed.TrySetResult();
            return ValueTask.CompletedTask;
        });
        Assert.Contains("mail__create_issue", await NamesAsync(client));
        var whoami = await BuiltinAsync(client, "archestra__whoami");
        Assert.True(whoami.GetProperty("contextTrusted").GetBoolean());
        Assert.Equal(JsonValueKind.Null, whoami.GetProperty("untrustedBy").ValueKind);

        await client.CallToolAsync("web__get_issue", cancellationToken: Ct);
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var names = await NamesAsync(client);
        Assert.Equal([.. Builtins, "mail__get_issue", "mail__get_repo"], names);

        whoami = await BuiltinAsync(client, "archestra__whoami");
        Assert.Equal("agent", whoami.GetProperty("profile").GetString());
        Assert.False(whoami.GetProperty("contextTrusted").GetBoolean());
        var by = whoami.GetProperty("untrustedBy");
        Assert.Equal("web__get_issue", by.GetProperty("tool").GetString());
        Assert.Equal("settings", by.GetProperty("source").GetString());
        Assert.Equal("the tool's default treats its results as untrusted", by.GetProperty("reason").GetString());

        // Hidden is not unknown: the call is decided by the policies, exactly as the engine decides it, and never forwarded.
        var hidden = await client.CallToolAsync("mail__create_issue", cancellationToken: Ct);
        Assert.True(hidden.IsError);
        Assert.StartsWith("blocked by the default setting of mail__create_issue", Assert.IsType<TextContentBlock>(hidden.Content.Single()).Text);
        Assert.DoesNotContain("create_issue", _fixture.Calls("mail"));
    }

    [Fact]
    public async Task Explain_tells_what_the_policies_would_decide_now_without_calling()
    {
        await using var client = await ConnectAsync("agent");
        var create = await BuiltinAsync(client, "archestra__explain", new() { ["tool"] = "mail__create_issue", ["arguments"] = new { title = "x" } });
        Assert.Equal("allow", create.GetProperty("decision").GetString());
        Assert.Equal("trusted_context", create.GetProperty("source").GetString());
        Assert.True(create.GetProperty("listed").GetBoolean());

        var delete = await BuiltinAsync(client, "archestra__explain", new() { ["tool"] = "mail__delete_repo" });
        Assert.Equal("block", delete.GetProperty("decision").GetString());
        Assert.Equal("policy", delete.GetProperty("source").GetString());
        Assert.Equal("never-delete", delete.GetProperty("policyId").GetString());
        Assert.Equal("repositories stay", delete.GetProperty("reason").GetString());
        Assert.False(delete.GetProperty("listed").GetBoolean());

        var unknown = await BuiltinAsync(client, "archestra__explain", new() { ["tool"] = "nope__x" });
        Assert.False(unknown.GetProperty("callable").GetBoolean());
        Assert.DoesNotContain(_fixture.Calls("mail"), c => c is "create_issue" or "delete_repo");

        var bad = await client.CallToolAsync("archestra__explain", new Dictionary<string, object?> { ["tool"] = 7 }, cancellationToken: Ct);
        Assert.True(bad.IsError);
    }

    [Fact]
    public async Task Search_ranks_the_profiles_tools_by_words_in_names_and_descriptions_and_bounds_the_results()
    {
        await using var client = await ConnectAsync("agent");
        var found = await BuiltinAsync(client, "archestra__search_tools", new() { ["query"] = "Issue" });
        var names = found.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        // Every match is in a name part here (score 4 each), so ties go by name; descriptions do not mention issues elsewhere.
        Assert.Equal(["mail__create_issue", "mail__get_issue", "mail__search_issues", "web__create_issue", "web__get_issue", "web__search_issues"], names);
        Assert.Equal(6, found.GetProperty("matched").GetInt32());

        // Words only in descriptions score lower than words in names; both words must match.
        var ranked = await BuiltinAsync(client, "archestra__search_tools", new() { ["query"] = "repo reads" });
        Assert.Equal(
            ["mail__get_repo", "web__get_repo", "mail__read_secret", "web__read_secret"],
            ranked.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString())
        );

        var limited = await BuiltinAsync(client, "archestra__search_tools", new() { ["query"] = "repository", ["limit"] = 2 });
        Assert.Equal(2, limited.GetProperty("tools").GetArrayLength());
        Assert.Equal("object", limited.GetProperty("tools")[0].GetProperty("inputSchema").GetProperty("type").GetString());

        var none = await BuiltinAsync(client, "archestra__search_tools", new() { ["query"] = "zebra" });
        Assert.Equal(0, none.GetProperty("matched").GetInt32());

        var tooMany = await client.CallToolAsync(
            "archestra__search_tools",
            new Dictionary<string, object?> { ["query"] = "x", ["limit"] = 51 },
            cancellationToken: Ct
        );
        Assert.True(tooMany.IsError);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_profile_with_builtin_tools_only_lists_them_and_a_tool_found_by_search_is_called_by_name(bool modern)
    {
        await using var client = await ConnectAsync("only", modern);
        Assert.Equal(Builtins, await NamesAsync(client));
        var found = await BuiltinAsync(client, "archestra__search_tools", new() { ["query"] = "get repo", ["limit"] = 1 });
        var name = found.GetProperty("tools")[0].GetProperty("name").GetString()!;
        Assert.Equal("mail__get_repo", name);
        var ran = await client.CallToolAsync(name, cancellationToken: Ct);
        Assert.Equal("get_repo done", Assert.IsType<TextContentBlock>(ran.Content.Single()).Text);
    }

    [Fact]
    public async Task A_modern_request_is_judged_untrusted_so_its_list_and_whoami_say_so()
    {
        await using var client = await ConnectAsync("agent", modern: true);
        Assert.Equal([.. Builtins, "mail__get_issue", "mail__get_repo"], await NamesAsync(client));
        var whoami = await BuiltinAsync(client, "archestra__whoami");
        Assert.Equal("2026-07-28", whoami.GetProperty("protocolVersion").GetString());
        Assert.False(whoami.GetProperty("contextTrusted").GetBoolean());
        Assert.Contains("no session", whoami.GetProperty("note").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Built_in_calls_are_audited_like_tool_calls()
    {
        await using var client = await ConnectAsync("static");
        await BuiltinAsync(client, "archestra__whoami");
        using var admin = new AdminClient(_fixture.Gateway.Server.AdminUrl, AdminClient.RootKey);
        JsonElement? row = null;
        for (var attempt = 0; attempt < 100 && row is null; attempt++)
        {
            var page = await admin.GetAsync("/api/audit/mcp-tool-calls?profile=static&server=archestra");
            row = page.Items.FirstOrDefault(r => r.GetProperty("tool").GetString() == "whoami") is { ValueKind: JsonValueKind.Object } found ? found : null;
            if (row is null)
            {
                await Task.Delay(100, Ct);
            }
        }

        Assert.True(row is not null, "no audit row for archestra__whoami after 10 s");
        Assert.Equal("allow", row.Value.GetProperty("decision").GetString());
        Assert.Equal("ok", row.Value.GetProperty("outcome").GetString());
    }
}

public sealed class BuiltinToolsTypeScriptTests : IClassFixture<BuiltinToolsFixture>
{
    private readonly BuiltinToolsFixture _fixture;

    public BuiltinToolsTypeScriptTests(BuiltinToolsFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<JsonElement> RunAsync(string sdk, string arg)
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-dynamic.mjs"), _fixture.Gateway.McpUrl("agent").ToString(), sdk, arg],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);
        return JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement.Clone();
    }

    private static string[] Names(JsonElement list) => [.. list.EnumerateArray().Select(t => t.GetString()!)];

    [Fact]
    public async Task The_2025_typescript_client_is_told_of_the_shorter_list_when_a_result_makes_its_session_untrusted()
    {
        var result = await RunAsync("v1", "web__search_code");
        Assert.Contains("mail__create_issue", Names(result.GetProperty("before")));
        Assert.True(result.GetProperty("notified").GetBoolean());
        Assert.Equal(
            ["archestra__explain", "archestra__search_tools", "archestra__whoami", "mail__get_issue", "mail__get_repo"],
            Names(result.GetProperty("after"))
        );
        Assert.Equal("web__search_code", result.GetProperty("whoami").GetProperty("untrustedBy").GetProperty("tool").GetString());
    }

    [Fact]
    public async Task The_2026_typescript_client_lists_what_an_untrusted_context_may_call_and_searches_it()
    {
        var result = await RunAsync("v2", "issue");
        Assert.Equal(
            ["archestra__explain", "archestra__search_tools", "archestra__whoami", "mail__get_issue", "mail__get_repo"],
            Names(result.GetProperty("before"))
        );
        var found = result.GetProperty("search").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.Equal(["mail__get_issue"], found);
    }
}
