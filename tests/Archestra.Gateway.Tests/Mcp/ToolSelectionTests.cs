using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>
/// Two copies of a server that records every call it receives, as "gh" and "files", in the profile "picked" (gh: only
/// get_* and search_*, never *_issues; files: everything but delete_*) and in "all" (no selection). Loaded from
/// configuration text, so the file's shape is what is tested.
/// </summary>
public sealed class ToolSelectionFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("archestra-selection-").FullName;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public string RecordFile(string server) => Path.Combine(_directory, server + ".calls");

    /// <summary>The tool names a server has been called with so far.</summary>
    public IReadOnlyList<string> Calls(string server) => File.Exists(RecordFile(server)) ? File.ReadAllLines(RecordFile(server)) : [];

    public static string Server(string record) =>
        $$"""
            { "command": {{JsonSerializer.Serialize(Repo.Node)}}, "args": [{{JsonSerializer.Serialize(Repo.Asset("recording-server.mjs"))}}],
              "env": { "ARCHESTRA_NODE_MODULES": {{JsonSerializer.Serialize(Repo.NodeModules)}}, "RECORD_FILE": {{JsonSerializer.Serialize(record)}} } }
            """;

    public async ValueTask InitializeAsync()
    {
        var config = $$"""
            {
              "mcpServers": { "gh": {{Server(RecordFile("gh"))}}, "files": {{Server(RecordFile("files"))}} },
              "profiles": {
                "picked": {
                  "servers": ["gh", "files"],
                  "toolSelection": {
                    "gh": { "allow": ["get_*", "search_*"], "deny": ["*_issues"] },
                    "files": { "deny": ["delete_*"] }
                  }
                },
                "all": { "servers": ["gh", "files"] }
              }
            }
            """;
        var path = Path.Combine(_directory, "archestra.json");
        await File.WriteAllTextAsync(path, config);
        var loaded = ConfigLoader.Load(path, Environment.GetEnvironmentVariable);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        Gateway = await GatewayHarness.StartAsync(loaded.Config! with { AdminKeys = Admin.AdminClient.FileKeys });
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

public sealed class ToolSelectionTests : IClassFixture<ToolSelectionFixture>
{
    private static readonly string[] Picked =
    [
        "archestra__explain",
        "archestra__search_tools",
        "archestra__whoami",
        "files__create_issue",
        "files__get_issue",
        "files__get_repo",
        "files__read_secret",
        "files__search_code",
        "files__search_issues",
        "gh__get_issue",
        "gh__get_repo",
        "gh__search_code",
    ];

    private readonly ToolSelectionFixture _fixture;

    public ToolSelectionTests(ToolSelectionFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<McpClient> ConnectAsync(string profile, bool modern)
    {
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl(profile), TransportMode = HttpTransportMode.StreamableHttp }
        );
        // Without a pinned revision the C# client picks MCP 2026-07-28, which the gateway offers through server/discover.
        return McpClient.CreateAsync(transport, modern ? new McpClientOptions() : LegacyClient.Options(), cancellationToken: Ct);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_profile_lists_only_the_tools_its_selection_exposes_and_one_without_selection_lists_all(bool modern)
    {
        await using var picked = await ConnectAsync("picked", modern);
        var names = (await picked.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Picked, names);

        await using var all = await ConnectAsync("all", modern);
        var everything = (await all.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).ToList();
        Assert.Equal(17, everything.Count); // and the three built-ins
        Assert.Contains("gh__delete_repo", everything);
    }

    [Theory]
    [InlineData(false, "gh__delete_repo")]
    [InlineData(false, "gh__search_issues")]
    [InlineData(true, "files__delete_repo")]
    [InlineData(true, "gh__create_issue")]
    public async Task A_call_to_a_tool_the_selection_hides_is_refused_as_unknown_and_never_reaches_the_server(bool modern, string tool)
    {
        await using var client = await ConnectAsync("picked", modern);
        var refused = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync(tool, cancellationToken: Ct).AsTask());
        Assert.Equal(McpErrorCode.InvalidParams, refused.ErrorCode);
        Assert.Contains($"Unknown tool '{tool}': profile 'picked' does not expose it.", refused.Message, StringComparison.Ordinal);

        // The same tool through the profile that exposes everything reaches the server, so the record works.
        await using var all = await ConnectAsync("all", modern);
        var ran = await all.CallToolAsync(tool, cancellationToken: Ct);
        Assert.NotEqual(true, ran.IsError);
        var server = tool[..tool.IndexOf("__", StringComparison.Ordinal)];
        var own = tool[(server.Length + 2)..];
        var calls = _fixture.Calls(server);
        Assert.Contains(own, calls);

        // Exactly the calls through "all" arrived: count them against a second refusal.
        var before = _fixture.Calls(server).Count(c => c == own);
        await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync(tool, cancellationToken: Ct).AsTask());
        await all.CallToolAsync($"{server}__get_repo", cancellationToken: Ct); // a later call the server answers: the refused one would be before it
        Assert.Equal(before, _fixture.Calls(server).Count(c => c == own));
    }

    [Fact]
    public async Task An_exposed_tool_is_called_as_usual()
    {
        await using var client = await ConnectAsync("picked", modern: false);
        var result = await client.CallToolAsync("gh__search_code", cancellationToken: Ct);
        Assert.Equal("search_code done", Assert.IsType<ModelContextProtocol.Protocol.TextContentBlock>(result.Content.Single()).Text);
        Assert.Contains("search_code", _fixture.Calls("gh"));
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task The_typescript_sdks_see_the_selected_list_and_a_refusal_for_a_hidden_tool(string sdk)
    {
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-selection.mjs"), _fixture.Gateway.McpUrl("picked").ToString(), sdk, "gh__read_secret", "files__read_secret"],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, process.Output);
        var result = JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal(Picked, result.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.Equal(-32602, result.GetProperty("refused").GetProperty("code").GetInt32());
        Assert.Contains("does not expose it", result.GetProperty("refused").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("read_secret done", result.GetProperty("allowed").GetString());
        Assert.DoesNotContain("read_secret", _fixture.Calls("gh"));
    }

    [Fact]
    public async Task The_admin_api_shows_whether_each_tool_is_exposed_and_by_which_rule()
    {
        using var admin = new Admin.AdminClient(_fixture.Gateway.Server.AdminUrl, Admin.AdminClient.RootKey);
        var reply = await admin.GetAsync("/api/tools?profile=picked");
        Assert.True(reply.Status == System.Net.HttpStatusCode.OK, reply.ToString());
        var tools = reply.Json.GetProperty("items").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!, t => t);

        Assert.Equal(14, tools.Count);
        Assert.True(tools["picked/gh__get_issue"].GetProperty("exposed").GetBoolean());
        Assert.Equal("toolSelection.gh.allow: get_*", tools["picked/gh__get_issue"].GetProperty("exposedBy").GetString());
        Assert.False(tools["picked/gh__search_issues"].GetProperty("exposed").GetBoolean());
        Assert.Equal("toolSelection.gh.deny: *_issues", tools["picked/gh__search_issues"].GetProperty("exposedBy").GetString());
        Assert.Equal("toolSelection.gh.allow: no pattern matches", tools["picked/gh__delete_repo"].GetProperty("exposedBy").GetString());
        Assert.Equal("toolSelection.files: no allow list", tools["picked/files__get_repo"].GetProperty("exposedBy").GetString());
        Assert.Equal("toolSelection.files.deny: delete_*", tools["picked/files__delete_repo"].GetProperty("exposedBy").GetString());

        var all = await admin.GetAsync("/api/tools?profile=all");
        var first = all.Json.GetProperty("items").EnumerateArray().First();
        Assert.True(first.GetProperty("exposed").GetBoolean());
        Assert.False(first.TryGetProperty("exposedBy", out _));

        var profile = await admin.GetAsync("/api/profiles/picked");
        Assert.Equal(
            ["get_*", "search_*"],
            profile.Json.GetProperty("toolSelection").GetProperty("gh").GetProperty("allow").EnumerateArray().Select(p => p.GetString())
        );
        Assert.Equal("on", profile.Json.GetProperty("builtinTools").GetString());
        Assert.True(profile.Json.GetProperty("dynamicTools").GetBoolean());
    }

    [Fact]
    public async Task A_profile_made_through_the_admin_api_takes_the_same_selection_and_a_bad_one_is_refused_with_its_path()
    {
        using var admin = new Admin.AdminClient(_fixture.Gateway.Server.AdminUrl, Admin.AdminClient.RootKey);
        var bad = await admin.PostAsync(
            "/api/profiles",
            """{"name": "bad-pick", "servers": ["gh"], "toolSelection": {"files": {"allow": []}, "gh": {"deny": [""]}}}"""
        );
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, bad.Status);
        Assert.Contains("$.toolSelection.files", bad.Text, StringComparison.Ordinal);
        Assert.Contains("$.toolSelection.gh.deny[0]", bad.Text, StringComparison.Ordinal);

        var created = await admin.PostAsync(
            "/api/profiles",
            """{"name": "api-pick", "servers": ["gh"], "toolSelection": {"gh": {"allow": ["*_repo"]}}, "builtinTools": "off"}"""
        );
        Assert.True(created.Status == System.Net.HttpStatusCode.Created, created.ToString());
        Assert.Equal("*_repo", created.Json.GetProperty("toolSelection").GetProperty("gh").GetProperty("allow")[0].GetString());
        try
        {
            await using var client = await ConnectAsync("api-pick", modern: false);
            var names = (await client.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(["delete_repo", "get_repo"], names);
        }
        finally
        {
            await admin.DeleteAsync("/api/profiles/api-pick");
        }
    }
}
