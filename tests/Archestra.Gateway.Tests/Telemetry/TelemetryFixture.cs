using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Telemetry;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Llm;
using Archestra.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace Archestra.Gateway.Tests.Telemetry;

/// <summary>
/// Spans are collected by a process-wide listener, so these tests run alone (no other test's spans or upstream
/// requests mix in) in one collection that shares a gateway, the fake LLM provider and a fake Streamable HTTP MCP
/// server that records the headers and bodies it receives.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection : ICollectionFixture<TelemetryFixture>
{
    public const string Name = "Telemetry";
}

/// <summary>
/// The gateway with the OpenTelemetry SDK listening through <see cref="TelemetryHost"/> and the in-memory exporter.
/// Profiles: <c>p</c> (the MCP server <c>fake</c> and the LLM providers, open), <c>capture</c> (the same with
/// <c>telemetry.captureContent</c>), <c>agent</c> (LLM only; the policy <c>no-delete</c> refuses <c>delete_repo</c>
/// for <c>prod-*</c>), <c>dual</c> (LLM only; <c>mail__read</c> results are sanitized by the dual LLM on Anthropic).
/// On <c>fake</c>, the policy <c>no-secrets</c> refuses <c>lookup</c> when <c>q</c> contains "secret".
/// </summary>
public sealed class TelemetryFixture : IAsyncLifetime
{
    public const string QuarantineModel = "claude-haiku-4-5";

    private readonly LockedList<Activity> _spans = new();
    private TelemetryHost _telemetry = null!;
    private WebApplication _mcp = null!;

    internal FakeProvider Fake { get; private set; } = null!;

    internal GatewayHarness Gateway { get; private set; } = null!;

    /// <summary>What the fake MCP server received: the traceparent header (or null) and the body.</summary>
    internal ConcurrentQueue<(string? TraceParent, JsonElement Body)> McpRequests { get; } = new();

    public async ValueTask InitializeAsync()
    {
        var settings = new TelemetrySettings(
            null,
            null,
            OtlpExportProtocol.HttpProtobuf,
            null,
            "archestra-test",
            null,
            new AlwaysOnSampler(),
            4096,
            TimeSpan.FromSeconds(5)
        );
        _telemetry = TelemetryHost.Start(settings, new InMemoryExporter<Activity>(_spans));
        Fake = await FakeProvider.StartAsync();
        _mcp = await StartMcpServerAsync();
        var mcpUrl = new Uri(_mcp.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());

        var servers = new[] { "fake", "mail" };
        var tools = new Dictionary<string, ToolSettings> { ["fake__*"] = new(AllowUsageWhenUntrustedDataIsPresent: true) };
        var definitions = new PolicySetDefinition(
            [
                new PolicyDefinition(
                    "no-secrets",
                    "fake__lookup",
                    [new PolicyCondition("q", "contains", "secret")],
                    "block_always",
                    "secrets are not looked up",
                    []
                ),
                new PolicyDefinition(
                    "no-delete",
                    "delete_repo",
                    [new PolicyCondition("repo", "startsWith", "prod-")],
                    "block_always",
                    "production repositories are never deleted by agents",
                    ["agent"]
                ),
            ],
            [new PolicyDefinition("quarantine-mail", "mail__read", [], "sanitize_with_dual_llm", "mail is written by outsiders", [])],
            [
                new ProfilePolicyInput("p", ["fake"], tools),
                new ProfilePolicyInput("capture", ["fake"], tools),
                new ProfilePolicyInput("agent", [], new Dictionary<string, ToolSettings>(), AgentTools: true),
                new ProfilePolicyInput("dual", servers, tools),
            ]
        );
        var compiled = PolicyCompiler.Compile(definitions);
        Assert.True(compiled.Snapshot is not null, string.Join("\n", compiled.Errors));
        var llm = new ProfileLlmConfig { OpenAi = "openai", Anthropic = "anthropic" };
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Http("fake", new Uri(mcpUrl, "mcp").ToString())],
                LlmProviders =
                [
                    new LlmProviderConfig
                    {
                        Name = "openai",
                        Kind = LlmProviderKind.OpenAi,
                        BaseUrl = Fake.OpenAiBaseUrl,
                        ApiKey = "sk-openai-secret-key",
                    },
                    new LlmProviderConfig
                    {
                        Name = "anthropic",
                        Kind = LlmProviderKind.Anthropic,
                        BaseUrl = Fake.BaseUrl,
                        ApiKey = "sk-ant-secret-key",
                    },
                ],
                Profiles =
                [
                    new ProfileConfig
                    {
                        Name = "p",
                        Servers = ["fake"],
                        Llm = llm,
                    },
                    new ProfileConfig
                    {
                        Name = "capture",
                        Servers = ["fake"],
                        Llm = llm,
                        CaptureContent = true,
                    },
                    new ProfileConfig
                    {
                        Name = "agent",
                        Servers = [],
                        Llm = llm,
                    },
                    new ProfileConfig
                    {
                        Name = "dual",
                        Servers = [],
                        Llm = llm with
                        {
                            DualLlm = new DualLlmConfig
                            {
                                Provider = "anthropic",
                                Model = QuarantineModel,
                                MaxRounds = 1,
                            },
                        },
                    },
                ],
                Policies = compiled.Snapshot!,
            },
            enforceToolDefaults: true
        );
    }

    /// <summary>The finished spans of one trace, once <paramref name="until"/> holds for them (the export runs every second).</summary>
    internal async Task<List<Activity>> TraceAsync(ActivityTraceId trace, Func<List<Activity>, bool> until)
    {
        for (var i = 0; ; i++)
        {
            var spans = _spans.Snapshot().Where(s => s.TraceId == trace).ToList();
            if (until(spans))
            {
                return spans;
            }

            if (i == 200)
            {
                Assert.Fail($"the trace never matched; it has: {string.Join(", ", spans.Select(s => s.DisplayName))}");
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Every span exported so far (for what must never appear in any of them).</summary>
    internal List<Activity> AllSpans() => _spans.Snapshot();

    /// <summary>
    /// A stateless Streamable HTTP MCP server with the tools <c>lookup</c> (echoes <c>q</c>), <c>broken</c> (answers a JSON-RPC
    /// error -32603) and <c>failing</c> (a result with isError).
    /// </summary>
    private async Task<WebApplication> StartMcpServerAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/mcp", async (HttpContext context) =>
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body);
            var root = document.RootElement.Clone();
            McpRequests.Enqueue((context.Request.Headers["traceparent"] is { Count: > 0 } t ? t.ToString() : null, root));
            if (!root.TryGetProperty("id", out var id))
            {
                context.Response.StatusCode = StatusCodes.Status202Accepted;
                return;
            }

            var rawId = id.GetRawText();
            var answer = root.GetProperty("method").GetString() switch
            {
                "initialize" => """{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}""",
                "tools/list" => """{"tools":[{"name":"lookup","inputSchema":{"type":"object"}},{"name":"broken","inputSchema":{"type":"object"}},"""
                    + """{"name":"failing","inputSchema":{"type":"object"}}]}""",
                "tools/call" => root.GetProperty("params").GetProperty("name").GetString() switch
                {
                    "broken" => null,
                    "failing" => """{"content":[{"type":"text","text":"it failed"}],"isError":true}""",
                    _ => """{"content":[{"type":"text","text":"found: """
                        + root.GetProperty("params").GetProperty("arguments").GetProperty("q").GetString()
                        + "\"}]}",
                },
                _ => "{}",
            };
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                answer is null
                    ? $$$"""{"jsonrpc":"2.0","id":{{{rawId}}},"error":{"code":-32603,"message":"the lookup service is down"}}"""
                    : $$$"""{"jsonrpc":"2.0","id":{{{rawId}}},"result":{{{answer}}}}"""
            );
        });
        await app.StartAsync();
        return app;
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Fake.DisposeAsync();
        await _mcp.DisposeAsync();
        _telemetry.Dispose();
    }

    /// <summary>The exporter adds from its thread while tests read.</summary>
    private sealed class LockedList<T> : ICollection<T>
    {
        private readonly List<T> _items = [];

        public int Count
        {
            get
            {
                lock (_items)
                {
                    return _items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public void Add(T item)
        {
            lock (_items)
            {
                _items.Add(item);
            }
        }

        public List<T> Snapshot()
        {
            lock (_items)
            {
                return [.. _items];
            }
        }

        public void Clear()
        {
            lock (_items)
            {
                _items.Clear();
            }
        }

        public bool Contains(T item) => Snapshot().Contains(item);

        public void CopyTo(T[] array, int arrayIndex) => Snapshot().CopyTo(array, arrayIndex);

        public bool Remove(T item)
        {
            lock (_items)
            {
                return _items.Remove(item);
            }
        }

        public IEnumerator<T> GetEnumerator() => Snapshot().GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
