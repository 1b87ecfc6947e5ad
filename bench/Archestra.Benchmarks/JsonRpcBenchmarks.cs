using BenchmarkDotNet.Attributes;

namespace Archestra.Benchmarks;

/// <summary>
/// The JSON-RPC byte work on one tools/call: parse alone, and parse + route + rewrite into a preallocated buffer.
/// Parse includes <see cref="Runtime.JsonRpc.StrictJson"/>; the Lenient and Strict rows split it into its two passes.
/// </summary>
[MemoryDiagnoser]
public class JsonRpcBenchmarks
{
    private readonly HotPath _hot = new();

    [Benchmark]
    public int ParseSmall() => HotPath.Parse(_hot.SmallRequest);

    [Benchmark]
    public int ParseLarge() => HotPath.Parse(_hot.LargeRequest);

    [Benchmark]
    public int ParseLargePlain() => HotPath.Parse(_hot.LargePlainRequest);

    [Benchmark]
    public int ParseLenientSmall() => HotPath.ParseLenient(_hot.SmallRequest);

    [Benchmark]
    public int ParseLenientLarge() => HotPath.ParseLenient(_hot.LargeRequest);

    [Benchmark]
    public int StrictSmall() => HotPath.Strict(_hot.SmallRequest);

    [Benchmark]
    public int StrictLarge() => HotPath.Strict(_hot.LargeRequest);

    [Benchmark]
    public int StrictManyKeys() => HotPath.Strict(_hot.ManyKeysRequest);

    [Benchmark]
    public int ForwardRequestSmall() => _hot.ForwardRequest(_hot.SmallRequest);

    [Benchmark]
    public int ForwardRequestLarge() => _hot.ForwardRequest(_hot.LargeRequest);

    [Benchmark]
    public int ForwardResponse() => _hot.ForwardResponse();
}
