using System.Diagnostics;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Policy;

/// <summary>
/// Not a test (explicit: CI never runs it): what sharing session trust through PostgreSQL costs per call, printed for
/// bench/README.md. A trusted session calls a tool its taint would refuse (<c>mail__echo</c>: reads the shared record)
/// and one usable in an untrusted context (<c>web__get-sum</c>: no read), on a gateway with embedded SQLite and one on
/// PostgreSQL; 400 calls each, 3 rounds.
/// </summary>
public sealed class SharedTrustMeasurement(PolicyFixture fixture, PostgresFixture postgres, ITestOutputHelper output)
    : IClassFixture<PolicyFixture>,
        IClassFixture<PostgresFixture>
{
    private static readonly HttpClient Http = new();

    [Fact(Explicit = true)]
    [Trait("Category", "Measurement")]
    public async Task Calls_in_a_trusted_session_with_and_without_the_shared_record()
    {
        var loaded = ConfigLoader.Load(fixture.ConfigPath, Environment.GetEnvironmentVariable);
        var pg = loaded.Config! with { Storage = loaded.Config!.Storage with { Database = await postgres.CreateDatabaseAsync() } };
        await using var sqlite = await GatewayHarness.StartAsync(loaded.Config!, enforceToolDefaults: true);
        await using var shared = await GatewayHarness.StartAsync(pg, enforceToolDefaults: true);
        foreach (var round in Enumerable.Range(0, 3))
        {
            foreach (var (name, g) in new[] { ("sqlite", sqlite), ("postgres", shared) })
            {
                using var init = await Http.SendAsync(RawMcp.Post(g.McpUrl("agent"), RawMcp.Initialize()), TestContext.Current.CancellationToken);
                var session = init.Headers.GetValues("Mcp-Session-Id").Single();
                foreach (var tool in new[] { "mail__echo", "web__get-sum" })
                {
                    var args = tool == "mail__echo" ? JsonSerializer.Serialize(new { message = "hi" }) : "{\"a\":1,\"b\":2}";
                    var times = new List<double>();
                    for (var i = 0; i < 400; i++)
                    {
                        var sw = Stopwatch.StartNew();
                        using var r = await Http.SendAsync(
                            RawMcp.Post(g.McpUrl("agent"), RawMcp.Call(i, tool, args), session),
                            TestContext.Current.CancellationToken
                        );
                        var m = await RawMcp.ReadMessageAsync(r);
                        times.Add(sw.Elapsed.TotalMicroseconds);
                        Assert.True(m.TryGetProperty("result", out _));
                    }
                    times.Sort();
                    output.WriteLine($"round {round} {name} {tool}: p50 {times[200]:0} us, p90 {times[360]:0} us");
                }
            }
        }
    }
}
