using System.Net;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Archestra.Gateway.Tests.WebConsole;

/// <summary>Debian's chromium driven by Playwright (no browser download is possible here), once per test class.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/setup.sh installs Debian's chromium");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(
            new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                Args = ["--no-sandbox", "--disable-dev-shm-usage"],
            }
        );
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}

/// <summary>
/// The web console in a real browser against the real gateway: sign-in, the overview, adding a server through the
/// form (errors next to the field, then the server becoming ready), live logs, a read-only key, and attacker-controlled
/// text (tool arguments, log lines) rendered as text.
/// </summary>
public sealed class ConsoleBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string Attack = "<img src=x onerror=\"window.__pwned=1\">";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<GatewayHarness> StartAsync()
    {
        // A second server that only writes an attack to stderr: it never becomes ready, its log is what matters.
        var noisy = GatewayHarness.Stdio(
            "noisy",
            Repo.Node,
            "-e",
            $"console.error({System.Text.Json.JsonSerializer.Serialize(Attack)}); setInterval(() => {{}}, 1000)"
        );
        return GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("everything"), noisy],
                Profiles = [GatewayHarness.Profile("default", "everything")],
            }
        );
    }

    private async Task<IPage> SignInAsync(GatewayHarness gateway, string key)
    {
        var page = await browser.Browser.NewPageAsync(
            new BrowserNewPageOptions
            {
                ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
            }
        );
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(gateway.Server.AdminUrl.ToString());
        await page.GetByLabel("Admin key").FillAsync(key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Overview" }).WaitForAsync();
        return page;
    }

    [Fact]
    public async Task The_console_is_served_from_the_binary_with_headers_that_forbid_inline_script_and_framing()
    {
        await using var gateway = await StartAsync();
        using var http = new HttpClient { BaseAddress = gateway.Server.AdminUrl };
        foreach (var path in (string[])["/", "/console/app.js", "/console/console.css"])
        {
            var response = await http.GetAsync(new Uri(path, UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
            Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
            Assert.Equal("DENY", string.Join(",", response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal("no-referrer", string.Join(",", response.Headers.GetValues("Referrer-Policy")));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/console/missing.js", UriKind.Relative), Ct)).StatusCode);
        var html = await http.GetStringAsync(new Uri("/", UriKind.Relative), Ct);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);

        // The page holds no data: the API behind it still wants the key.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("/api/mcp-servers", UriKind.Relative), Ct)).StatusCode);
    }

    [Fact]
    public async Task A_wrong_key_is_refused_and_a_right_one_shows_the_overview_with_the_servers()
    {
        await using var gateway = await StartAsync();
        var page = await browser.Browser.NewPageAsync();
        await page.GotoAsync(gateway.Server.AdminUrl.ToString());
        await page.GetByLabel("Admin key").FillAsync("not-a-key");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#signin-error")).ToContainTextAsync("refused");
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('archestra.adminKey')"));

        page = await SignInAsync(gateway, AdminClient.RootKey);
        await Assertions.Expect(page.Locator("#who")).ToHaveTextAsync("read-write key");
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "everything", Exact = true })).ToBeVisibleAsync();
        Assert.Equal(AdminClient.RootKey, await page.EvaluateAsync<string?>("sessionStorage.getItem('archestra.adminKey')"));
        Assert.DoesNotContain(AdminClient.RootKey, page.Url, StringComparison.Ordinal);
        var cookies = await page.Context.CookiesAsync();
        Assert.Empty(cookies);
    }

    [Fact]
    public async Task Adding_a_server_shows_the_apis_errors_next_to_the_field_then_the_server_becomes_ready()
    {
        await using var gateway = await StartAsync();
        var page = await SignInAsync(gateway, AdminClient.RootKey);
        await page.GetByRole(AriaRole.Link, new() { Name = "MCP servers" }).ClickAsync();
        await page.GetByLabel("Name").FillAsync("bad name");
        await page.GetByLabel("Command").FillAsync(Repo.Node);
        await page.GetByRole(AriaRole.Button, new() { Name = "Add server" }).ClickAsync();
        await Assertions.Expect(page.Locator("#e-name")).ToContainTextAsync("a server name must be");

        await page.GetByLabel("Name").FillAsync("added");
        await page.GetByLabel("Arguments").FillAsync(Repo.Everything + "\nstdio");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add server" }).ClickAsync();
        var row = page.Locator("tr[data-server='added']");
        await row.WaitForAsync();
        for (var i = 0; await row.Locator(".state-ready").CountAsync() == 0; i++)
        {
            Assert.True(i < 120, "the added server did not show as ready within 60 s");
            await page.WaitForTimeoutAsync(500);
            await page.ReloadAsync();
            await row.WaitForAsync();
        }

        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        var status = await admin.GetAsync("/api/mcp-servers/added/status");
        Assert.Equal("ready", status.Json.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_read_only_key_sees_the_servers_with_every_change_disabled()
    {
        await using var gateway = await StartAsync();
        var page = await SignInAsync(gateway, AdminClient.ReaderKey);
        await Assertions.Expect(page.Locator("#who")).ToContainTextAsync("read-only key 'reader'");
        await page.GetByRole(AriaRole.Link, new() { Name = "MCP servers" }).ClickAsync();
        var row = page.Locator("tr[data-server='everything']");
        await row.WaitForAsync();
        await Assertions.Expect(row.GetByRole(AriaRole.Button, new() { Name = "Restart" })).ToBeDisabledAsync();
        await Assertions.Expect(row.GetByRole(AriaRole.Button, new() { Name = "Delete" })).ToBeDisabledAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Add server" })).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator(".notice")).ToContainTextAsync("read-only");

        // Nothing was created by the sign-in's scope probe.
        using var admin = new AdminClient(gateway.Server.AdminUrl, AdminClient.RootKey);
        var keys = await admin.GetAsync("/api/admin-keys");
        Assert.Equal(["reader", "root"], keys.Items.Select(k => k.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Attacker_controlled_arguments_and_log_lines_are_shown_as_text_and_never_run()
    {
        await using var gateway = await StartAsync();
        using (var http = new HttpClient())
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpUrl("default"))
            {
                Content = new StringContent(
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":"
                        + System.Text.Json.JsonSerializer.Serialize(Attack)
                        + "}}}",
                    Encoding.UTF8,
                    "application/json"
                ),
            };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request, Ct)).StatusCode);
        }

        var page = await SignInAsync(gateway, AdminClient.RootKey);
        await page.GetByRole(AriaRole.Link, new() { Name = "Audit" }).ClickAsync();
        var call = page.GetByRole(AriaRole.Link, new() { Name = "everything__echo" }).First;
        for (var i = 0; await call.CountAsync() == 0; i++)
        {
            Assert.True(i < 60, "the tool call did not reach the audit view within 30 s");
            await page.WaitForTimeoutAsync(500);
            await page.ReloadAsync();
        }

        await call.ClickAsync();
        await Assertions.Expect(page.Locator("pre.log")).ToContainTextAsync("<img src=x onerror=");

        await page.GetByRole(AriaRole.Link, new() { Name = "MCP servers" }).ClickAsync();
        await page.Locator("tr[data-server='noisy']").GetByRole(AriaRole.Button, new() { Name = "Logs" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("log")).ToContainTextAsync("<img src=x onerror=");

        Assert.Equal(0, await page.Locator("main img").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("window.__pwned === undefined"));
    }
}
