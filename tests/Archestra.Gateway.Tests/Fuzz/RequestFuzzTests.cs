using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Fuzz;

/// <summary>
/// A bounded fuzz run against the real gateway process (the binary's entry point as a child, so its memory is its
/// own): mutated MCP, LLM and admin requests (<see cref="RequestFuzzer"/>) from four concurrent clients for
/// <c>ARCHESTRA_FUZZ_SECONDS</c> (default 20). Every answer must be a status the gateway means: never a 5xx (the
/// LLM upstream here always answers well, so a 5xx could only be the gateway's own), never a 2xx with an empty
/// body except 202 for a notification or response; the process must stay up, serve a valid call afterwards and
/// keep its resident memory bounded. The seed is printed and can be replayed with <c>ARCHESTRA_FUZZ_SEED</c>.
/// </summary>
public sealed class RequestFuzzTests
{
    private const string VirtualKey = "vk-fuzz-0123456789";
    private const string AdminKey = "arc_admin_fuzz_0123456789abcdef";
    private const int MaxBody = 4 * 1024 * 1024;

    /// <summary>Measured 240-260 MB at the end of 20 s runs (~20,000 requests, four clients, bodies up to 5 MiB).
    /// Before the buffer bounds of issue 10 (BytePool, the admin body limit) a run reached 1,048 MB.</summary>
    private const long MaxRssBytes = 500L * 1024 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] McpSeeds =
    [
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":"""
            + """{"name":"fuzz","version":"1"}}}""",
        """{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""",
        """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"raw__run","arguments":{"cmd":"ls","opts":{"all":true,"depth":"""
            + """[1,2,3]}},"_meta":{"progressToken":"t-3"}}}""",
        """{"jsonrpc":"2.0","id":"s-4","method":"ping"}""",
        """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
        """{"jsonrpc":"2.0","id":5,"result":{"action":"accept","content":{}}}""",
        """{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"test://x"}}""",
        """{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"fuzz"}}""",
    ];

    private static readonly (string Path, string Body)[] LlmSeeds =
    [
        (
            "/v1/openai/p/chat/completions",
            """{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},"""
                + """{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":"""
                + """{"name":"raw__run","arguments":"{\"cmd\":\"ls\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],"tools":["""
                + """{"type":"function","function":{"name":"raw__run","parameters":{"type":"object"}}}],"stream":false}"""
        ),
        (
            "/v1/openai/p/chat/completions",
            """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"""
        ),
        (
            "/v1/openai/p/responses",
            """{"model":"gpt-4o-mini","input":[{"role":"user","content":"hi"},"""
                + """{"type":"function_call","call_id":"c1","name":"raw__run","arguments":"{}"},"""
                + """{"type":"function_call_output","call_id":"c1","output":"ok"}],"tools":["""
                + """{"type":"function","name":"raw__run","parameters":{"type":"object"}}]}"""
        ),
        (
            "/v1/anthropic/p/v1/messages",
            """{"model":"claude-haiku-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":["""
                + """{"type":"tool_use","id":"t1","name":"raw__run","input":{"cmd":"ls"}}]},{"role":"user","content":["""
                + """{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}],"tools":[{"name":"raw__run","input_schema":{"type":"object"}}]}"""
        ),
        ("/v1/anthropic/p/v1/messages/count_tokens", """{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}"""),
    ];

    private static readonly (string Method, string Path, string Body)[] AdminSeeds =
    [
        ("POST", "/api/mcp-servers", """{"name":"fz","url":"http://127.0.0.1:9/mcp","headers":{"X-Team":"fuzz"},"timeoutSeconds":5}"""),
        ("PUT", "/api/mcp-servers/fz", """{"name":"fz","url":"http://127.0.0.1:9/mcp"}"""),
        ("POST", "/api/profiles", """{"name":"fp","servers":[],"toolPrefix":"always","tools":{"*":{"resultTreatment":"trusted"}}}"""),
        (
            "POST",
            "/api/policies/tool-invocation",
            """{"tool":"raw__run","action":"block_always","conditions":[{"key":"cmd","operator":"contains","value":"rm"}],"reason":"fuzz"}"""
        ),
        ("POST", "/api/llm/prices", """{"model":"fuzz-model","inputPerMillion":1,"outputPerMillion":2,"cachedInputPerMillion":0.5}"""),
        ("POST", "/api/llm/limits", """{"profile":"p","kind":"tokens","period":"day","value":1000000000}"""),
    ];

    [Fact]
    public async Task Mutated_requests_never_get_a_5xx_or_an_empty_2xx_and_the_gateway_stays_healthy_and_bounded()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("ARCHESTRA_FUZZ_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 20;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("ARCHESTRA_FUZZ_SEED"), CultureInfo.InvariantCulture, out var fixedSeed)
            ? fixedSeed
            : Random.Shared.Next();
        TestContext.Current.TestOutputHelper?.WriteLine($"fuzz seed {seed} for {seconds} s (replay: ARCHESTRA_FUZZ_SEED={seed})");

        await using var upstream = await CannedLlm.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["FUZZ_ADMIN_KEY"] = AdminKey,
            ["FUZZ_VK"] = VirtualKey,
            ["FUZZ_PROVIDER_KEY"] = "sk-fuzz",
        };
        await using var process = await GatewayProcess.StartAsync(
            $$"""
            "adminKeys": [{ "name": "fuzz", "key": "env:FUZZ_ADMIN_KEY", "scope": "read-write" }],
            "mcpServers": { "raw": { "command": "node", "args": [{{JsonSerializer.Serialize(Repo.Asset("raw-server.mjs"))}}] } },
            "llmProviders": {
              "openai": { "kind": "openai", "baseUrl": {{JsonSerializer.Serialize(upstream.Url + "v1")}}, "apiKey": "env:FUZZ_PROVIDER_KEY" },
              "anthropic": { "kind": "anthropic", "baseUrl": {{JsonSerializer.Serialize(
                upstream.Url.ToString().TrimEnd('/')
            )}}, "apiKey": "env:FUZZ_PROVIDER_KEY" }
            },
            "profiles": { "p": { "servers": ["raw"], "toolPrefix": "always",
                                 "tools": { "*": { "allowUsageWhenUntrustedDataIsPresent": true } },
                                 "llm": { "openai": "openai", "anthropic": "anthropic", "virtualKeys": ["env:FUZZ_VK"] } } },
            "policies": { "toolInvocation": [ { "id": "no-rm", "tool": "raw__run", "action": "block_always",
                "conditions": [{ "key": "cmd", "operator": "contains", "value": "rm" }], "reason": "no deleting" } ] }
            """,
            env: env
        );
        var gateway = process.Process;
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(60) };
        var gatewayUrl = process.GatewayUrl;
        var adminUrl = process.AdminUrl;
        await WaitForToolAsync(http, gatewayUrl, "raw__run", "ran ok");

        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        long sent = 0,
            maxRss = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);

        async Task ClientAsync(int client)
        {
            var random = new Random(seed + client);
            var fuzzer = new RequestFuzzer(random, MaxBody);
            while (DateTime.UtcNow < deadline && failures.Count < 10)
            {
                var pick = random.Next(100);
                HttpRequestMessage request;
                string what;
                byte[] body;
                if (pick < 50)
                {
                    body = fuzzer.Mutate(McpSeeds[random.Next(McpSeeds.Length)]);
                    request = new HttpRequestMessage(HttpMethod.Post, new Uri(gatewayUrl, "/v1/mcp/p"));
                    request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
                    what = "POST /v1/mcp/p";
                }
                else if (pick < 85)
                {
                    var (path, seedBody) = LlmSeeds[random.Next(LlmSeeds.Length)];
                    body = fuzzer.Mutate(seedBody);
                    request = new HttpRequestMessage(HttpMethod.Post, new Uri(gatewayUrl, path));
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", VirtualKey);
                    request.Headers.TryAddWithoutValidation("x-api-key", VirtualKey);
                    request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
                    what = "POST " + path;
                }
                else
                {
                    var (method, path, seedBody) = AdminSeeds[random.Next(AdminSeeds.Length)];
                    body = fuzzer.Mutate(seedBody);
                    request = new HttpRequestMessage(new HttpMethod(method), new Uri(adminUrl, path));
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
                    what = method + " " + path;
                }

                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using (request)
                {
                    try
                    {
                        using var response = await http.SendAsync(request, Ct);
                        var answer = await response.Content.ReadAsByteArrayAsync(Ct);
                        var status = (int)response.StatusCode;
                        statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                        Interlocked.Increment(ref sent);
                        if (status >= 500 || (status is >= 200 and < 300 && status != 202 && answer.Length == 0))
                        {
                            failures.Enqueue(
                                $"{what} -> {status} with {answer.Length} bytes: "
                                    + $"{Encoding.UTF8.GetString(answer[..Math.Min(answer.Length, 300)])}\n  request ({body.Length} bytes): {Preview(body)}"
                            );
                        }
                    }
                    catch (HttpRequestException ex)
                    {
                        // The gateway may close a connection it refused a body on (413 before reading it all); the
                        // process must still be up, which the loop's next request and the end checks show.
                        if (gateway.HasExited)
                        {
                            failures.Enqueue($"{what}: the gateway exited ({ex.Message})\n  request: {Preview(body)}");
                        }
                    }
                }
            }
        }

        async Task WatchMemoryAsync()
        {
            while (DateTime.UtcNow < deadline)
            {
                var rss = ResidentBytes(gateway.Id);
                if (rss > Interlocked.Read(ref maxRss))
                {
                    Interlocked.Exchange(ref maxRss, rss);
                }

                await Task.Delay(200, Ct);
            }
        }

        await Task.WhenAll([.. Enumerable.Range(0, 4).Select(c => Task.Run(() => ClientAsync(c), Ct)), WatchMemoryAsync()]);

        var counted = string.Join(", ", statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}x{p.Value}"));
        var summary = $"seed {seed}: {sent} requests, statuses {counted}, max RSS {maxRss / (1024 * 1024)} MB";
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        Assert.True(failures.IsEmpty, summary + "\n" + string.Join("\n", failures));
        Assert.False(gateway.HasExited, summary + "\n" + gateway.Output);
        Assert.True(maxRss < MaxRssBytes, summary);
        // Enough traffic for the verdict to mean something, and both refusals and successes among it.
        Assert.True(sent >= 200, summary);
        Assert.Contains(statuses.Keys, k => k is >= 200 and < 300);
        Assert.Contains(statuses.Keys, k => k is >= 400 and < 500);

        using (var health = await http.GetAsync(new Uri(gatewayUrl, "/healthz"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        // raw__seen: the admin part of the run may have added policies on raw__run (a seed creates one).
        await WaitForToolAsync(http, gatewayUrl, "raw__seen", "[");
    }

    private static string Preview(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, 400)]);
        return body.Length > 400 ? text + "…" : text;
    }

    private static long ResidentBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException) { }

        return 0;
    }

    /// <summary>A valid tools/call answers with <paramref name="expected"/> (the stdio server is up); polls for up to 30 s while it starts.</summary>
    private static async Task WaitForToolAsync(HttpClient http, Uri gatewayUrl, string tool, string expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            using var request = RawMcp.Post(new Uri(gatewayUrl, "/v1/mcp/p"), RawMcp.Call(1, tool, """{"cmd":"ok"}"""));
            using var response = await http.SendAsync(request, Ct);
            last = await response.Content.ReadAsStringAsync(Ct);
            if (last.Contains(expected, StringComparison.Ordinal) && !last.Contains("\"isError\":true", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(100, Ct);
        }

        Assert.Fail($"the gateway did not serve {tool}: " + last);
    }

    /// <summary>An LLM upstream that answers every request with a fixed, well-formed answer in the right provider's shape.</summary>
    private sealed class CannedLlm : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private CannedLlm(WebApplication app, Uri url)
        {
            _app = app;
            Url = url;
        }

        public Uri Url { get; }

        public static async Task<CannedLlm> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            app.MapPost("/v1/chat/completions", static (HttpContext c) =>
                Json(
                    c,
                    """{"id":"chatcmpl-f","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":["""
                        + """{"index":0,"message":{"role":"assistant","content":"ok","tool_calls":["""
                        + """{"id":"call_0","type":"function","function":"""
                        + """{"name":"raw__run","arguments":"{\"cmd\":\"ls\"}"}}]},"finish_reason":"tool_calls"}],"usage":"""
                        + """{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"""
                )
            );
            app.MapPost("/v1/responses", static (HttpContext c) =>
                Json(
                    c,
                    """{"id":"resp_f","object":"response","created_at":1700000000,"status":"completed","model":"gpt-4o-mini","output":"""
                        + """[{"type":"function_call","id":"fc_0","call_id":"call_0","name":"raw__run","arguments":"{\"cmd\":\"ls\"}","status":"completed"}]"""
                        + ""","usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}}"""
                )
            );
            app.MapPost("/v1/messages", static (HttpContext c) =>
                Json(
                    c,
                    """{"id":"msg_f","type":"message","role":"assistant","model":"claude-haiku-4-5","content":["""
                        + """{"type":"text","text":"ok"},{"type":"tool_use","id":"toolu_0","name":"raw__run","input":"""
                        + """{"cmd":"ls"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2}}"""
                )
            );
            app.MapPost("/v1/messages/count_tokens", static (HttpContext c) => Json(c, """{"input_tokens":3}"""));
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            return new CannedLlm(app, new Uri(address + "/"));
        }

        private static async Task Json(HttpContext context, string body)
        {
            // Drain the request so the proxy's upload completes, whatever it holds.
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(body);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
