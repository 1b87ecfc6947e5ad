using System.Text.RegularExpressions;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>What the gateway's own traffic puts on its /metrics listener.</summary>
public sealed partial class MetricsEndToEndTests : IClassFixture<FlakyFixture>
{
    private static readonly HttpClient Http = new();
    private readonly FlakyFixture _fixture;

    public MetricsEndToEndTests(FlakyFixture fixture)
    {
        _fixture = fixture;
    }

    private async Task<string> ScrapeAsync() =>
        await Http.GetStringAsync(new Uri(_fixture.Gateway.Server.MetricsUrl, "/metrics"), TestContext.Current.CancellationToken);

    private static double Value(string scrape, string series)
    {
        foreach (var line in scrape.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    [Fact]
    public async Task Tool_calls_upstream_health_and_unknown_tools_are_counted()
    {
        // Wait for the flaky server (it may be restarting after another test's crash).
        for (var i = 0; i < 300; i++)
        {
            using var probe = await Http.SendAsync(
                RawMcp.Post(_fixture.Gateway.McpUrl("flaky"), RawMcp.Call(1, "echo", """{"message":"m"}""")),
                TestContext.Current.CancellationToken
            );
            if ((await RawMcp.ReadMessageAsync(probe)).TryGetProperty("result", out _))
            {
                break;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        var okSeries = """mcp_tool_calls_total{profile="flaky",server="flaky",tool="echo",outcome="ok"}""";
        var unknownSeries = """mcp_tool_calls_total{profile="flaky",server="flaky",tool="_unknown",outcome="unknown_tool"}""";
        var before = await ScrapeAsync();

        for (var i = 0; i < 3; i++)
        {
            using var call = await Http.SendAsync(
                RawMcp.Post(_fixture.Gateway.McpUrl("flaky"), RawMcp.Call(i, "echo", """{"message":"m"}""")),
                TestContext.Current.CancellationToken
            );
            Assert.True((await RawMcp.ReadMessageAsync(call)).TryGetProperty("result", out _));
        }

        using (
            var unknown = await Http.SendAsync(
                RawMcp.Post(_fixture.Gateway.McpUrl("flaky"), RawMcp.Call(9, "no-such-tool")),
                TestContext.Current.CancellationToken
            )
        )
        {
            Assert.Equal(-32602, RawMcp.ErrorCode(await RawMcp.ReadMessageAsync(unknown)));
        }

        var after = await ScrapeAsync();
        Assert.Equal(Value(before, okSeries) + 3, Value(after, okSeries));
        Assert.Equal(Value(before, unknownSeries) + 1, Value(after, unknownSeries));

        // The histogram counts the same calls; a client-chosen unknown name never becomes a label.
        var countSeries = """mcp_tool_call_duration_seconds_count{profile="flaky",server="flaky",tool="echo"}""";
        Assert.True(Value(after, countSeries) >= Value(before, countSeries) + 3);
        Assert.DoesNotContain("no-such-tool", after, StringComparison.Ordinal);

        Assert.Equal(1, Value(after, """mcp_upstream_up{server="flaky"}"""));
        Assert.Equal(0, Value(after, """mcp_upstream_up{server="broken"}"""));
        Assert.Matches(ProcessRss(), after);
    }

    [GeneratedRegex(@"(?m)^process_resident_memory_bytes [0-9.e+]+$")]
    private static partial Regex ProcessRss();
}
