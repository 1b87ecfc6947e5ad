using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Llm;
using Microsoft.Playwright;

namespace Archestra.Gateway.Tests.WebConsole;

/// <summary>
/// The console as a person meets it, in a real browser against a gateway with traffic (tool calls through
/// server-everything, LLM requests to the fake provider): the overview's live rates, every page at a phone's width
/// without horizontal scrolling and with its navigation reachable, the keyboard alone from sign-in to another page with
/// the focus visible, and every page at 1280×800, written as PNGs when <c>ARCHESTRA_SCREENSHOTS</c> names a directory
/// (scripts/screenshots.sh; the README shows them).
/// </summary>
public sealed class ConsoleLayoutTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string VirtualKey = "vk-console-0123456789";

    /// <summary>Every page: its hash and its heading.</summary>
    public static readonly (string Hash, string Heading)[] Pages =
    [
        ("overview", "Overview"),
        ("servers", "MCP servers"),
        ("profiles", "Profiles"),
        ("policies", "Policies"),
        ("audit", "Audit: MCP tool calls"),
        ("usage", "Usage and cost"),
        ("llm", "LLM proxy"),
        ("keys", "Admin keys"),
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Setup(FakeProvider fake, GatewayHarness gateway) : IAsyncDisposable
    {
        public FakeProvider Fake => fake;

        public GatewayHarness Gateway => gateway;

        public async ValueTask DisposeAsync()
        {
            await gateway.DisposeAsync();
            await fake.DisposeAsync();
        }
    }

    private static async Task<Setup> StartAsync()
    {
        var fake = await FakeProvider.StartAsync();
        var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                McpServers = [AdminClient.FileServer("everything")],
                LlmProviders =
                [
                    new LlmProviderConfig
                    {
                        Name = "openai",
                        Kind = LlmProviderKind.OpenAi,
                        BaseUrl = fake.OpenAiBaseUrl,
                        ApiKey = LlmProxyFixture.OpenAiProviderKey,
                        Resilience = new LlmResilienceConfig { Retries = 0 },
                    },
                ],
                Profiles =
                [
                    GatewayHarness.Profile("default", "everything") with
                    {
                        Llm = new ProfileLlmConfig { OpenAi = "openai", VirtualKeyHashes = [SHA256.HashData(Encoding.UTF8.GetBytes(VirtualKey))] },
                    },
                ],
            }
        );
        // Traffic waits for server-everything: a call before it is ready fails, which the rates would count.
        using var http = new HttpClient();
        for (var i = 0; ; i++)
        {
            using var status = JsonDocument.Parse(await http.GetStringAsync(new Uri(gateway.Server.AdminUrl, "/api/status"), Ct));
            if (status.RootElement.GetProperty("servers").EnumerateArray().All(s => s.GetProperty("state").GetString() == "ready"))
            {
                break;
            }

            Assert.True(i < 120, "server-everything did not become ready within 60 s");
            await Task.Delay(500, Ct);
        }

        return new Setup(fake, gateway);
    }

    /// <summary>A tools/call on the default profile; <paramref name="tool"/> may name no tool (a failed call).</summary>
    private static async Task<string> CallToolAsync(GatewayHarness gateway, string tool)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, gateway.McpUrl("default"))
        {
            Content = new StringContent(
                $$$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"{{{{tool}}}}","arguments":{"message":"hi"}}}""",
                Encoding.UTF8,
                "application/json"
            ),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var response = await http.SendAsync(request, Ct);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private static async Task ChatAsync(GatewayHarness gateway, string model)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.BaseUrl, "/v1/openai/default/chat/completions"))
        {
            Content = new StringContent($$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", VirtualKey);
        using var response = await http.SendAsync(request, Ct);
        await response.Content.ReadAsStringAsync(Ct);
    }

    /// <summary>Traffic for the pages to show: 3 tool calls (1 failed), 3 LLM requests (1 failed).</summary>
    private static async Task TrafficAsync(GatewayHarness gateway)
    {
        for (var i = 0; i < 2; i++)
        {
            var echo = await CallToolAsync(gateway, "echo");
            Assert.True(echo.Contains("Echo: hi", StringComparison.Ordinal), echo);
        }

        await CallToolAsync(gateway, "no_such_tool");
        await ChatAsync(gateway, "gpt-4o");
        await ChatAsync(gateway, "gpt-4o-mini");
        await ChatAsync(gateway, "fail-500");
    }

    private async Task<IPage> OpenAsync(GatewayHarness gateway, int width, int height)
    {
        var page = await browser.Browser.NewPageAsync(
            new BrowserNewPageOptions
            {
                ViewportSize = new ViewportSize { Width = width, Height = height },
            }
        );
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(gateway.Server.AdminUrl.ToString());
        return page;
    }

    private async Task<IPage> SignInAsync(GatewayHarness gateway, int width = 1280, int height = 800)
    {
        var page = await OpenAsync(gateway, width, height);
        await page.GetByLabel("Admin key").FillAsync(AdminClient.RootKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Overview" }).WaitForAsync();
        return page;
    }

    /// <summary>Opens a page through its navigation link and waits for its heading (and no error box).</summary>
    private static async Task GoAsync(IPage page, string hash, string heading)
    {
        await page.Locator($"nav a[href='#/{hash}']").ClickAsync();
        await Assertions.Expect(page.Locator("main h1")).ToHaveTextAsync(heading);
        Assert.Equal(0, await page.Locator("main .error").CountAsync());
    }

    /// <summary>The innermost elements that reach past the viewport's right edge, for a failure's message.</summary>
    private static Task<string> WiderAsync(IPage page) =>
        page.EvaluateAsync<string>(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5"
                + " && ![...e.children].some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))"
                + ".slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`).join(', ')"
        );

    [Fact]
    public async Task The_overview_shows_the_last_minutes_calls_and_failures_and_follows_them_live()
    {
        await using var setup = await StartAsync();
        var page = await SignInAsync(setup.Gateway);
        await Assertions.Expect(page.GetByTestId("rate-tool-calls")).ToHaveTextAsync("0");

        await TrafficAsync(setup.Gateway);

        // The API counts them at once; the page shows them at its next refresh, without a reload.
        using (var http = new HttpClient())
        {
            using var status = JsonDocument.Parse(await http.GetStringAsync(new Uri(setup.Gateway.Server.AdminUrl, "/api/status"), Ct));
            var rates = status.RootElement.GetProperty("rates");
            Assert.Equal(
                (60, 3, 1, 3, 1),
                (
                    rates.GetProperty("windowSeconds").GetInt32(),
                    rates.GetProperty("toolCalls").GetInt32(),
                    rates.GetProperty("toolCallErrors").GetInt32(),
                    rates.GetProperty("llmRequests").GetInt32(),
                    rates.GetProperty("llmErrors").GetInt32()
                )
            );
            Assert.True(status.RootElement.GetProperty("auditQueue").GetInt64() >= 0);
        }

        var live = new LocatorAssertionsToHaveTextOptions { Timeout = 20_000 };
        await Assertions.Expect(page.GetByTestId("rate-tool-calls")).ToHaveTextAsync("3", live);
        await Assertions.Expect(page.GetByTestId("rate-tool-errors")).ToHaveTextAsync("1", live);
        await Assertions.Expect(page.GetByTestId("rate-llm")).ToHaveTextAsync("3", live);
        await Assertions.Expect(page.GetByTestId("rate-llm-errors")).ToHaveTextAsync("1", live);
        Assert.Equal("Overview", await page.Locator("h1").TextContentAsync());
    }

    [Fact]
    public async Task At_a_phone_width_no_page_scrolls_sideways_and_the_navigation_reaches_every_page()
    {
        await using var setup = await StartAsync();
        await TrafficAsync(setup.Gateway);
        var page = await OpenAsync(setup.Gateway, 390, 844);
        Assert.Equal(390, await page.EvaluateAsync<int>("document.documentElement.clientWidth"));
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "sign-in page");
        await page.GetByLabel("Admin key").FillAsync(AdminClient.RootKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Overview" }).WaitForAsync();

        foreach (var (hash, heading) in Pages)
        {
            var link = page.Locator($"nav a[href='#/{hash}']");
            await Assertions.Expect(link).ToBeInViewportAsync();
            await GoAsync(page, hash, heading);
            var widths = await page.EvaluateAsync<int[]>("[document.documentElement.scrollWidth, document.documentElement.clientWidth]");
            Assert.True(widths[0] <= widths[1], $"#/{hash} is {widths[0]} px wide in a {widths[1]} px viewport: {await WiderAsync(page)}");
        }
    }

    [Fact]
    public async Task The_keyboard_alone_signs_in_and_opens_a_page_with_the_focus_always_visible()
    {
        await using var setup = await StartAsync();
        var page = await OpenAsync(setup.Gateway, 1280, 800);
        const string Focused =
            "(() => { const e = document.activeElement; const s = getComputedStyle(e); "
            + "return { id: e.id, tag: e.tagName, text: (e.textContent || '').trim(), outline: s.outlineStyle, width: s.outlineWidth }; })()";

        // The field has the focus on arrival; typing the key, Tab to the button and Enter sign in.
        await page.GetByLabel("Admin key").WaitForAsync();
        Assert.Equal("key", (await page.EvaluateAsync<JsonElement>(Focused)).GetProperty("id").GetString());
        await page.Keyboard.TypeAsync(AdminClient.RootKey);
        await page.Keyboard.PressAsync("Tab");
        var button = await page.EvaluateAsync<JsonElement>(Focused);
        Assert.Equal(("BUTTON", "Sign in"), (button.GetProperty("tag").GetString(), button.GetProperty("text").GetString()));
        Assert.NotEqual("none", button.GetProperty("outline").GetString());
        await page.Keyboard.PressAsync("Enter");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Overview" }).WaitForAsync();

        // The page's content has the focus; Shift+Tab goes back to Sign out, then through the navigation from its end, each
        // element showing its focus; Tab goes forward again, and Enter opens the link.
        async Task ExpectFocusAsync(string tag, string text)
        {
            var focused = await page.EvaluateAsync<JsonElement>(Focused);
            Assert.Equal((tag, text), (focused.GetProperty("tag").GetString(), focused.GetProperty("text").GetString()));
            Assert.NotEqual("none", focused.GetProperty("outline").GetString());
            Assert.NotEqual("0px", focused.GetProperty("width").GetString());
        }

        Assert.Equal("main", (await page.EvaluateAsync<JsonElement>(Focused)).GetProperty("id").GetString());
        await page.Keyboard.PressAsync("Shift+Tab");
        await ExpectFocusAsync("BUTTON", "Sign out");
        var links = await page.Locator("nav a").AllTextContentsAsync();
        Assert.Equal(Pages.Length, links.Count);
        for (var i = links.Count - 1; i >= 0; i--)
        {
            await page.Keyboard.PressAsync("Shift+Tab");
            await ExpectFocusAsync("A", links[i]);
        }

        for (var i = 1; i <= 3; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            await ExpectFocusAsync("A", links[i]);
        }

        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("main h1")).ToHaveTextAsync("Policies");
        Assert.EndsWith("#/policies", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_page_renders_at_1280_by_800_and_is_photographed_when_asked()
    {
        await using var setup = await StartAsync();
        await TrafficAsync(setup.Gateway);
        var page = await SignInAsync(setup.Gateway);
        var directory = Environment.GetEnvironmentVariable("ARCHESTRA_SCREENSHOTS");
        foreach (var (hash, heading) in Pages)
        {
            await GoAsync(page, hash, heading);
            if (hash == "overview")
            {
                await Assertions.Expect(page.GetByTestId("rate-tool-calls")).ToHaveTextAsync("3", new() { Timeout = 20_000 });
            }

            Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), hash);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, $"{hash}.png"), FullPage = true });
            }
        }
    }
}
