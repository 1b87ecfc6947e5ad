using BenchmarkDotNet.Attributes;

namespace Archestra.Benchmarks;

/// <summary>Name routing: <c>{server}__{tool}</c> to a server in a 3-server profile, then the tool in a 32-tool list.</summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private readonly HotPath _hot = new();

    [Benchmark]
    public bool RouteProfile() => _hot.Route() is not null;

    [Benchmark]
    public string? FindTool() => _hot.Find()?.Key;
}
