using System.Text.Json;
using Archestra.Policy;
using BenchmarkDotNet.Attributes;

namespace Archestra.Benchmarks;

/// <summary>
/// The policy engine on <see cref="PolicyWorkload"/> (1,000 policies, 100 tools, ~1 KB documents): compiling the
/// whole set, and one decision by the compiled engine vs the reference interpreter (JsonDocument and recursion)
/// in the same run.
/// </summary>
[MemoryDiagnoser]
public class PolicyBenchmarks
{
    private readonly PolicyWorkload _work = new();

    [Benchmark]
    public bool Compile1000Policies() => PolicyCompiler.Compile(_work.Definition).Succeeded;

    [Benchmark]
    public InvocationVerdict InvocationTrusted() => _work.Policies.EvaluateInvocation(_work.FileToolUtf8, _work.FileWrite, contextTrusted: true).Verdict;

    [Benchmark]
    public InvocationVerdict InvocationTrustedReference() =>
        _work.Reference.EvaluateInvocation(PolicyWorkload.Profile, PolicyWorkload.FileTool, _work.FileWrite, trusted: true).Verdict;

    [Benchmark]
    public InvocationVerdict InvocationUntrusted() => _work.Policies.EvaluateInvocation(_work.MailToolUtf8, _work.Email, contextTrusted: false).Verdict;

    [Benchmark]
    public InvocationVerdict InvocationUntrustedReference() =>
        _work.Reference.EvaluateInvocation(PolicyWorkload.Profile, PolicyWorkload.MailTool, _work.Email, trusted: false).Verdict;

    [Benchmark]
    public InvocationVerdict InvocationEscapedContent() =>
        _work.Policies.EvaluateInvocation(_work.FileToolUtf8, _work.FileWriteEscaped, contextTrusted: false).Verdict;

    [Benchmark]
    public InvocationVerdict InvocationEscapedContentReference() =>
        _work.Reference.EvaluateInvocation(PolicyWorkload.Profile, PolicyWorkload.FileTool, _work.FileWriteEscaped, trusted: false).Verdict;

    /// <summary>The floor: one Utf8JsonReader pass over the email, doing nothing with the tokens.</summary>
    [Benchmark]
    public int ReaderFloorEmail() => ReadAll(_work.Email);

    [Benchmark]
    public int ReaderFloorFileWrite() => ReadAll(_work.FileWrite);

    [Benchmark]
    public ResultVerdict Result() => _work.Policies.EvaluateResult(_work.FileToolUtf8, _work.ToolResult).Verdict;

    [Benchmark]
    public ResultVerdict ResultReference() => _work.Reference.EvaluateResult(PolicyWorkload.Profile, PolicyWorkload.FileTool, _work.ToolResult).Verdict;

    private static int ReadAll(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        var tokens = 0;
        while (reader.Read())
        {
            tokens++;
        }

        return tokens;
    }
}
