using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Llm;
using Microsoft.Playwright;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.WebConsole;

/// <summary>
/// The console's profile, token, tool, policy and usage pages in a real browser against the real gateway: everything
/// is done through the forms and then checked through the admin API or a real call, and a hostile tool description
/// shows as text.
/// </summary>
public sealed class ConsolePagesTests(BrowserFixture browser, LlmProxyFixture llm) : IClassFixture<BrowserFixture>, IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<GatewayHarness> StartAsync()
    {
        var hostile = GatewayHarness.Stdio("hostile", Repo.Node, Repo.Asset("hostile-server.mjs")) with
        {
            Env = new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules },
        };
        return GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("everything"), hostile],
                Profiles = [GatewayHarness.Profile("default", "everything")],
            }
        );
    }

    private async Task<IPage> SignInAsync(Uri adminUrl)
    {
        var page = await browser.Browser.NewPageAsync(
            new BrowserNewPageOptions
            {
                ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
            }
        );
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(adminUrl.ToString());
        await page.GetByLabel("Admin key").FillAsync(AdminClient.RootKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Overview" }).WaitForAsync();
        return page;
    }

    private static async Task<(HttpStatusCode Status, string Body)> CallEchoAsync(
        GatewayHarness gateway,
        string profile,
        string tool,
        string message,
        string? token,
        string? agentSession = null
    )
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpUrl(profile))
        {
            Content = new StringContent(
                $"{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"{tool}\",\"arguments\":{{\"message\":"
                    + System.Text.Json.JsonSerializer.Serialize(message)
                    + "}}}",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        if (agentSession is not null)
        {
            request.Headers.Add("X-Archestra-Agent-Id", "console-test");
            request.Headers.Add("X-Archestra-Session-Id", agentSession);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_profile_and_its_token_are_made_in_the_console_the_token_is_shown_once_and_tool_descriptions_are_text()
    {
        await using var gateway = await StartAsync();
        var page = await SignInAsync(gateway.Server.AdminUrl);
        await page.GetByRole(AriaRole.Link, new() { Name = "Profiles" }).ClickAsync();
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("team");
        await page.GetByLabel("everything", new() { Exact = true }).CheckAsync();
        await page.GetByLabel("hostile", new() { Exact = true }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Create profile" }).ClickAsync();
        await page.Locator("tr[data-profile='team']").WaitForAsync();

        // The token: shown once, and it opens the profile's endpoint.
        await page.GetByLabel("Token name").FillAsync("ci");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create token" }).ClickAsync();
        var token = await page.GetByTestId("new-token").TextContentAsync();
        Assert.StartsWith("arc_", token, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await CallEchoAsync(gateway, "team", "everything__echo", "hi", null)).Status);
        var call = await CallEchoAsync(gateway, "team", "everything__echo", "hi", token);
        Assert.True(call.Status == HttpStatusCode.OK && call.Body.Contains("Echo: hi", StringComparison.Ordinal), call.Body);
        await page.ReloadAsync();
        await page.Locator("tr[data-token='ci']").WaitForAsync();
        Assert.DoesNotContain(token!, await page.ContentAsync(), StringComparison.Ordinal);

        // The tools of the profile: the hostile description is text, and a setting changed here is the API's.
        await page.Locator("tr[data-profile='team']").GetByRole(AriaRole.Button, new() { Name = "Tools" }).ClickAsync();
        var render = page.Locator("tr[data-tool='hostile__render']");
        for (var i = 0; await render.CountAsync() == 0; i++)
        {
            Assert.True(i < 60, "the hostile server's tool never showed in the profile's tools");
            await page.WaitForTimeoutAsync(500);
            await page.Locator("tr[data-profile='team']").GetByRole(AriaRole.Button, new() { Name = "Tools" }).ClickAsync();
        }

        await Assertions.Expect(render.Locator("td.description")).ToContainTextAsync("<img src=x onerror=");
        Assert.Equal(0, await page.Locator("main img").CountAsync());
        Assert.Null(await page.EvaluateAsync<int?>("window.__pwned"));

        await page.GetByLabel("result treatment of everything__echo").SelectOptionAsync("trusted");
        await Assertions.Expect(page.GetByLabel("result treatment of everything__echo")).ToHaveValueAsync("trusted");
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        // The select changes at once; the console's PUT lands a moment later.
        var setting = await admin.GetAsync("/api/tools/team/everything__echo");
        for (var i = 0; !setting.Json.GetProperty("settings").TryGetProperty("resultTreatment", out _); i++)
        {
            Assert.True(i < 100, "the console never stored the setting: " + setting);
            await page.WaitForTimeoutAsync(50);
            setting = await admin.GetAsync("/api/tools/team/everything__echo");
        }

        Assert.Equal("trusted", setting.Json.GetProperty("settings").GetProperty("resultTreatment").GetString());
    }

    [Fact]
    public async Task A_policy_made_in_the_form_shows_the_compilers_error_at_its_field_then_refuses_a_call_seen_in_the_audit_view()
    {
        await using var gateway = await StartAsync();
        using (var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey))
        {
            var team = await admin.PostAsync("/api/profiles", """{"name": "team", "servers": ["everything"]}""");
            Assert.Equal(HttpStatusCode.Created, team.Status);
        }

        var page = await SignInAsync(gateway.Server.AdminUrl);
        await page.GetByRole(AriaRole.Link, new() { Name = "Policies" }).ClickAsync();
        await page.GetByLabel("Tool", new() { Exact = true }).FillAsync("nope");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create policy" }).ClickAsync();
        await Assertions.Expect(page.Locator("#e-tool")).ToContainTextAsync("is not of the form {server}__{tool}");

        await page.GetByLabel("Tool", new() { Exact = true }).FillAsync("everything__echo");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add condition" }).ClickAsync();
        await page.GetByLabel("condition 1 key").FillAsync("message");
        await page.GetByLabel("condition 1 operator").SelectOptionAsync("contains");
        await page.GetByLabel("condition 1 value").FillAsync("secret");
        await page.GetByLabel("Reason (shown to the client when refused)").FillAsync("no secrets through echo");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create policy" }).ClickAsync();
        await Assertions.Expect(page.Locator("tr[data-policy]").Filter(new() { HasText = "everything__echo" })).ToContainTextAsync("message contains");

        // What would happen, asked in the page: the policy's refusal for a secret, an allow otherwise; nothing is called.
        await page.Locator("#w-profile").SelectOptionAsync("team");
        await page.Locator("#w-tool").FillAsync("everything__echo");
        await page.Locator("#w-arguments").FillAsync("""{"message": "a secret"}""");
        await page.GetByRole(AriaRole.Button, new() { Name = "Evaluate" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("evaluation")).ToContainTextAsync("The call: block");
        await Assertions.Expect(page.GetByTestId("evaluation")).ToContainTextAsync("no secrets through echo");
        await page.Locator("#w-arguments").FillAsync("""{"message": "fine"}""");
        await page.GetByRole(AriaRole.Button, new() { Name = "Evaluate" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("evaluation")).ToContainTextAsync("The call: allow");
        await page.Locator("#w-arguments").FillAsync("{not json");
        await page.GetByRole(AriaRole.Button, new() { Name = "Evaluate" }).ClickAsync();
        await Assertions.Expect(page.Locator("#e-w-arguments")).ToContainTextAsync("not valid JSON");

        var allowed = await CallEchoAsync(gateway, "team", "echo", "nothing to hide", null);
        Assert.Contains("Echo: nothing to hide", allowed.Body, StringComparison.Ordinal);
        var refused = await CallEchoAsync(gateway, "team", "echo", "my secret", null, agentSession: "conv-7");
        Assert.Contains("no secrets through echo", refused.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("Echo: my secret", refused.Body, StringComparison.Ordinal);

        await page.GetByRole(AriaRole.Link, new() { Name = "Audit" }).ClickAsync();
        var blocked = page.Locator("tbody tr").Filter(new() { HasText = "block" });
        for (var i = 0; await blocked.CountAsync() == 0; i++)
        {
            Assert.True(i < 60, "the refused call never showed in the audit view");
            await page.WaitForTimeoutAsync(250);
            await page.ReloadAsync();
            await page.GetByRole(AriaRole.Heading, new() { Name = "Audit: MCP tool calls" }).WaitForAsync();
        }

        await Assertions.Expect(blocked.First).ToContainTextAsync("everything__echo");

        // The conversation's filter: only the refused call carried X-Archestra-Session-Id conv-7.
        await page.Locator("#q-agentSessionId").FillAsync("conv-7");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Assertions.Expect(page.Locator("tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("tbody tr")).ToContainTextAsync("console-test / conv-7");
        await Assertions.Expect(page.Locator("tbody tr")).ToContainTextAsync("block");
    }

    [Fact]
    public async Task Usage_after_llm_calls_through_the_proxy_shows_in_charts_and_rows_with_the_profiles_limit()
    {
        using (var admin = llm.Admin())
        {
            var limit = await admin.PostAsync("/api/llm/limits", """{"profile": "team", "kind": "tokens", "period": "month", "value": 100000}""");
            Assert.Equal(HttpStatusCode.Created, limit.Status);
        }

        var chat = new ChatClient(
            "gpt-4o-mini",
            new ApiKeyCredential(LlmProxyFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = llm.OpenAiBase("team"), RetryPolicy = new ClientRetryPolicy(0) }
        );
        await chat.CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);
        await llm.AuditAsync("gpt-4o-mini");

        var page = await SignInAsync(llm.Gateway.Server.AdminUrl);
        await page.GetByRole(AriaRole.Link, new() { Name = "Usage" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Usage and cost" }).WaitForAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = "Tokens per day" })).ToBeVisibleAsync();
        var row = page.Locator("tbody tr").Filter(new() { HasText = "gpt-4o-mini" }).First;
        await Assertions.Expect(row).ToContainTextAsync("team");
        await Assertions.Expect(page.Locator("tr[data-limit]")).ToContainTextAsync("tokens per month");
        Assert.True(await page.Locator("svg.chart rect.bar-fill").CountAsync() >= 30);
    }

    [Fact]
    public async Task Prices_limits_and_admin_keys_are_added_in_the_console_and_a_new_admin_key_is_shown_once()
    {
        await using var gateway = await StartAsync();
        var page = await SignInAsync(gateway.Server.AdminUrl);
        await page.GetByRole(AriaRole.Link, new() { Name = "LLM proxy" }).ClickAsync();
        var prices = page.GetByRole(AriaRole.Region, new() { Name = "Prices (USD per million tokens)" });
        await prices.GetByLabel("Model").FillAsync("gpt-console");
        await prices.GetByLabel("Input", new() { Exact = true }).FillAsync("not a number");
        await prices.GetByLabel("Output").FillAsync("2");
        await prices.GetByRole(AriaRole.Button, new() { Name = "Add price" }).ClickAsync();
        await Assertions.Expect(page.Locator("#e-prices-inputPerMillion")).Not.ToBeEmptyAsync();
        await prices.GetByLabel("Input", new() { Exact = true }).FillAsync("0.5");
        await prices.GetByRole(AriaRole.Button, new() { Name = "Add price" }).ClickAsync();
        await Assertions.Expect(page.Locator("tr[data-item='gpt-console']")).ToContainTextAsync("0.5");

        await page.GetByRole(AriaRole.Link, new() { Name = "Admin keys" }).ClickAsync();
        await page.GetByLabel("Name").FillAsync("automation");
        await page.GetByLabel("Scope").SelectOptionAsync("read-only");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add admin key" }).ClickAsync();
        var key = await page.GetByTestId("new-admin-key").TextContentAsync();
        Assert.StartsWith("arc_admin_", key, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("tr[data-item='automation']")).ToContainTextAsync("read-only");

        using var admin = new AdminClient(gateway.Server.AdminUrl, key!);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/llm/prices/gpt-console")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await admin.PostAsync("/api/admin-keys", """{"name": "x", "scope": "read-only"}""")).Status);
    }
}
