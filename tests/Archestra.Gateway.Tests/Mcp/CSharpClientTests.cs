// Sampling is deprecated from MCP 2026-07-28 (SEP-2577) but is part of every revision the gateway speaks (2025-03-26 … 2025-11-25).
#pragma warning disable MCP9005
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>The official MCP C# SDK client (ModelContextProtocol.Core) talking to server-everything through the gateway.</summary>
public sealed class CSharpClientTests : IClassFixture<EverythingFixture>
{
    private readonly EverythingFixture _fixture;

    public CSharpClientTests(EverythingFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<McpClient> ConnectAsync(string profile, McpClientOptions? options = null, string? token = null)
    {
        var transportOptions = new HttpClientTransportOptions { Endpoint = _fixture.Gateway.McpUrl(profile), TransportMode = HttpTransportMode.StreamableHttp };
        if (token is not null)
        {
            transportOptions.AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token };
        }

        return await McpClient.CreateAsync(
            new HttpClientTransport(transportOptions),
            LegacyClient.Options(options),
            cancellationToken: TestContext.Current.CancellationToken
        );
    }

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    [Fact]
    public async Task Tools_of_a_stdio_and_an_http_upstream_are_listed_with_server_prefixes()
    {
        await using var client = await ConnectAsync("mixed");
        var tools = await client.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        var names = tools.Select(t => t.Name).ToHashSet();

        Assert.Contains("local__echo", names);
        Assert.Contains("remote__echo", names);
        Assert.Contains("local__get-sum", names);
        Assert.DoesNotContain("echo", names);

        // Schemas and annotations pass through unchanged.
        var echo = tools.Single(t => t.Name == "remote__echo");
        Assert.Equal(JsonValueKind.Object, echo.ProtocolTool.InputSchema.ValueKind);
        Assert.True(echo.ProtocolTool.InputSchema.GetProperty("properties").TryGetProperty("message", out _));
    }

    [Fact]
    public async Task A_single_server_profile_keeps_the_original_tool_names()
    {
        await using var client = await ConnectAsync("only-local");
        var tools = await client.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(tools, t => t.Name == "echo");
        Assert.DoesNotContain(tools, t => t.Name.Contains("__", StringComparison.Ordinal) && !t.Name.StartsWith("archestra__", StringComparison.Ordinal));

        var result = await client.CallToolAsync(
            "echo",
            new Dictionary<string, object?> { ["message"] = "plain" },
            cancellationToken: TestContext.Current.CancellationToken
        );
        Assert.Equal("Echo: plain", Text(result));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("remote")]
    public async Task Calls_route_to_the_owning_server(string server)
    {
        await using var client = await ConnectAsync("mixed");
        var echo = await client.CallToolAsync(
            $"{server}__echo",
            new Dictionary<string, object?> { ["message"] = "héllo ✓" },
            cancellationToken: TestContext.Current.CancellationToken
        );
        Assert.Equal("Echo: héllo ✓", Text(echo));

        var sum = await client.CallToolAsync(
            $"{server}__get-sum",
            new Dictionary<string, object?> { ["a"] = 2, ["b"] = 40 },
            cancellationToken: TestContext.Current.CancellationToken
        );
        Assert.Contains("42", Text(sum), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("local")]
    [InlineData("remote")]
    public async Task Progress_notifications_reach_the_client(string server)
    {
        await using var client = await ConnectAsync("mixed");
        var updates = new List<ProgressNotificationValue>();
        var progress = new SynchronousProgress(updates);
        var result = await client.CallToolAsync(
            $"{server}__trigger-long-running-operation",
            new Dictionary<string, object?> { ["duration"] = 0.3, ["steps"] = 3 },
            progress,
            cancellationToken: TestContext.Current.CancellationToken
        );

        Assert.Contains("Long running operation completed", Text(result), StringComparison.Ordinal);

        // The gateway writes every progress event before the result (WireTests checks the exact bytes),
        // but the C# SDK runs progress handlers asynchronously and drops one that is still queued when
        // the result completes the call; directly against server-everything the timing hides that.
        // So this test checks what the SDK guarantees: updates arrive, in order, with the right total.
        for (var i = 0; i < 100 && Count(updates) < 2; i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        lock (updates)
        {
            Assert.True(updates.Count >= 2, $"expected progress updates, got {updates.Count}");
            var values = updates.Select(u => u.Progress).ToArray();
            Assert.Equal(values.Order().ToArray(), values);
            Assert.Equal(1f, values[0]);
            Assert.All(updates, u => Assert.Equal(3f, u.Total));
        }
    }

    [Theory]
    [InlineData("local")]
    [InlineData("remote")]
    public async Task Sampling_requests_from_an_upstream_are_answered_by_the_client(string server)
    {
        var samplingCalls = 0;
        var options = new McpClientOptions
        {
            Handlers = new McpClientHandlers
            {
                SamplingHandler = (request, _, _) =>
                {
                    Interlocked.Increment(ref samplingCalls);
                    var prompt = request!.Messages[0].Content.OfType<TextContentBlock>().First().Text;
                    return ValueTask.FromResult(
                        new CreateMessageResult
                        {
                            Model = "test-model",
                            Role = Role.Assistant,
                            Content = [new TextContentBlock { Text = "sampled<" + prompt + ">" }],
                        }
                    );
                },
            },
        };

        await using var client = await ConnectAsync("mixed", options);
        var tools = await client.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(tools, t => t.Name == $"{server}__trigger-sampling-request");

        var result = await client.CallToolAsync(
            $"{server}__trigger-sampling-request",
            new Dictionary<string, object?> { ["prompt"] = "ping-42", ["maxTokens"] = 10 },
            cancellationToken: TestContext.Current.CancellationToken
        );
        var text = Text(result);
        Assert.Equal(1, samplingCalls);
        Assert.Contains("sampled<", text, StringComparison.Ordinal);
        Assert.Contains("ping-42", text, StringComparison.Ordinal);
        Assert.Contains("test-model", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompts_and_resources_are_aggregated_and_routed()
    {
        await using var client = await ConnectAsync("mixed");
        var prompts = await client.ListPromptsAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(prompts, p => p.Name == "local__simple-prompt");
        Assert.Contains(prompts, p => p.Name == "remote__simple-prompt");

        var prompt = await client.GetPromptAsync("remote__simple-prompt", cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotEmpty(prompt.Messages);

        var resources = await client.ListResourcesAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotEmpty(resources);
        var first = resources[0];
        var read = await client.ReadResourceAsync(first.Uri, cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotEmpty(read.Contents);
        Assert.Equal(first.Uri, read.Contents[0].Uri);

        var templates = await client.ListResourceTemplatesAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotEmpty(templates);

        // Routing: the two upstreams run the same server, but only the HTTP one was started with PORT set, so get-env
        // tells which process answered each prefixed name.
        var port = $"\"PORT\": \"{_fixture.DirectUrl.Port}\"";
        var remoteEnv = Text(await client.CallToolAsync("remote__get-env", cancellationToken: TestContext.Current.CancellationToken));
        var localEnv = Text(await client.CallToolAsync("local__get-env", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains(port, remoteEnv, StringComparison.Ordinal);
        Assert.DoesNotContain(port, localEnv, StringComparison.Ordinal);
        Assert.StartsWith("{", localEnv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_of_one_profile_does_not_open_another()
    {
        await using var secured = await ConnectAsync("secured", token: EverythingFixture.Token);
        var tools = await secured.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(tools, t => t.Name == "echo");

        // The secured profile has only the remote server: nothing from "local" is visible.
        Assert.DoesNotContain(tools, t => t.Name.StartsWith("local__", StringComparison.Ordinal));

        var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await ConnectAsync("secured", token: "wrong-token"));
        Assert.Contains("401", ex.ToString(), StringComparison.Ordinal);
    }

    private static int Count(List<ProgressNotificationValue> updates)
    {
        lock (updates)
        {
            return updates.Count;
        }
    }

    private sealed class SynchronousProgress(List<ProgressNotificationValue> sink) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value)
        {
            lock (sink)
            {
                sink.Add(value);
            }
        }
    }
}
