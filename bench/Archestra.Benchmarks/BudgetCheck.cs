using System.Text;
using System.Text.Json;

namespace Archestra.Benchmarks;

/// <summary>
/// Measures allocated bytes per operation with <see cref="GC.GetAllocatedBytesForCurrentThread"/> and
/// fails when an operation allocates more than its budget in bench/budgets.json. Runs in about a
/// second, without BenchmarkDotNet, so CI can call it on every build.
/// </summary>
internal static class BudgetCheck
{
    /// <summary>
    /// Measured rounds per operation; the least-allocating round counts. The first call of a method can
    /// allocate once on this thread (type loading, tier-up stubs); a real per-call allocation shows in
    /// every round.
    /// </summary>
    private const int Rounds = 3;

    public static int Run(string budgetsPath, TextWriter output)
    {
        var hot = new HotPath();
        var policy = new PolicyWorkload();
        if (!Verify(hot, output) || !VerifyPolicy(policy, output))
        {
            return 2;
        }

        var operations = new (string Name, Func<int> Operation)[]
        {
            ("parse.small", () => HotPath.Parse(hot.SmallRequest)),
            ("parse.large", () => HotPath.Parse(hot.LargeRequest)),
            ("parse.large-plain", () => HotPath.Parse(hot.LargePlainRequest)),
            ("parse.many-keys", () => HotPath.Parse(hot.ManyKeysRequest)),
            ("forward-request.small", () => hot.ForwardRequest(hot.SmallRequest)),
            ("forward-request.large", () => hot.ForwardRequest(hot.LargeRequest)),
            ("forward-response", hot.ForwardResponse),
            ("parse.modern", () => HotPath.Parse(hot.ModernRequest)),
            ("validate.modern", hot.ValidateModern),
            ("forward-response.modern", hot.ForwardResponseModern),
            ("route.profile", () => hot.Route() is null ? 0 : 1),
            ("route.find-tool", () => hot.Find() is null ? 0 : 1),
            ("policy.invocation", () =>
                (int)policy.Policies.EvaluateInvocation(policy.MailToolUtf8, policy.Email, contextTrusted: false).Verdict
                + (int)policy.Policies.EvaluateInvocation(policy.FileToolUtf8, policy.FileWriteEscaped, contextTrusted: true).Verdict
            ),
            ("policy.result", () => (int)policy.Policies.EvaluateResult(policy.FileToolUtf8, policy.ToolResult).Verdict),
        };

        var (iterations, budgets) = Load(budgetsPath);
        var failed = false;
        output.WriteLine($"{"operation", -24} {"bytes/op", 9} {"budget", 7}");
        foreach (var (name, operation) in operations)
        {
            if (!budgets.Remove(name, out var budget))
            {
                output.WriteLine($"{name, -24} has no budget in {budgetsPath}");
                failed = true;
                continue;
            }

            var bytes = Measure(operation, iterations);

            // Integer division: a one-off allocation of a few KB over 20k calls rounds to 0, while
            // any allocation made on every call is at least 24 bytes per call.
            var perCall = bytes / iterations;
            var ok = perCall <= budget;
            failed |= !ok;
            output.WriteLine($"{name, -24} {perCall, 9} {budget, 7}{(ok ? "" : "  OVER BUDGET")}");
        }

        // Process-wide, not per thread: a completion crosses Kestrel, the proxy, SocketsHttpHandler and the audit
        // writer's thread. Measured over 5,000 completions (least of three rounds), so a one-off allocation of the
        // background threads adds little; the budget keeps some headroom for that noise.
        foreach (var (llm, translated) in new[] { ("llm.chat-completion", false), ("llm.chat-completion-translated", true) })
        {
            if (budgets.Remove(llm, out var llmBudget))
            {
                var perCompletion = LlmAllocations.MeasureAsync(5_000, output: null, translated).GetAwaiter().GetResult();
                var ok = perCompletion <= llmBudget;
                failed |= !ok;
                output.WriteLine($"{llm, -24} {perCompletion, 9} {llmBudget, 7}{(ok ? "" : "  OVER BUDGET")}");
            }
            else
            {
                output.WriteLine($"{llm, -24} has no budget in {budgetsPath}");
                failed = true;
            }
        }

        foreach (var name in budgets.Keys)
        {
            output.WriteLine($"{name, -24} is in {budgetsPath} but no such operation is measured");
            failed = true;
        }

        output.WriteLine(failed ? "allocation budgets: FAILED" : "allocation budgets: ok");
        return failed ? 1 : 0;
    }

    private static long Measure(Func<int> operation, int iterations)
    {
        var sink = 0;
        for (var i = 0; i < iterations; i++)
        {
            sink += operation();
        }

        var least = long.MaxValue;
        for (var round = 0; round < Rounds; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < iterations; i++)
            {
                sink += operation();
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        GC.KeepAlive(sink);
        return least;
    }

    /// <summary>A zero-allocation result is worthless if the rewrite is wrong: check the bytes first.</summary>
    private static bool Verify(HotPath hot, TextWriter output)
    {
        var expectedRequest =
            """{"jsonrpc":"2.0","id":1048576,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},"_meta":"""
            + """{"progressToken":1048576}}}""";
        var expectedResponse = """{"jsonrpc":"2.0","id":"req-17","result":{"content":[{"type":"text","text":"ok"}],"isError":false}}""";
        var request = Encoding.UTF8.GetString(hot.Written(hot.ForwardRequest(hot.SmallRequest)));
        var response = Encoding.UTF8.GetString(hot.Written(hot.ForwardResponse()));
        var modern = Encoding.UTF8.GetString(hot.Written(hot.ForwardResponseModern()));
        var modernOk =
            hot.ValidateModern() == 1
            && modern == """{"jsonrpc":"2.0","id":"req-17","result":{"resultType":"complete","content":[{"type":"text","text":"ok"}],"isError":false}}""";
        var large = hot.ForwardRequest(hot.LargeRequest);
        var largeOk = large > 0 && IsValidJson(hot.Written(large)) && hot.Written(large).IndexOf("\"name\":\"echo\""u8) > 0;
        if (request == expectedRequest && response == expectedResponse && largeOk && modernOk)
        {
            return true;
        }

        output.WriteLine("rewrite produced unexpected bytes:");
        output.WriteLine($"  request:  {request}");
        output.WriteLine($"  response: {response}");
        output.WriteLine($"  large request valid: {largeOk}");
        output.WriteLine($"  modern: valid {hot.ValidateModern() == 1}, response {modern}");
        return false;
    }

    /// <summary>The compiled engine must decide the budgeted calls exactly as the reference interpreter does.</summary>
    private static bool VerifyPolicy(PolicyWorkload work, TextWriter output)
    {
        var ok = true;
        foreach (
            var (tool, document) in new[]
            {
                (PolicyWorkload.MailTool, work.Email),
                (PolicyWorkload.FileTool, work.FileWrite),
                (PolicyWorkload.FileTool, work.FileWriteEscaped),
            }
        )
        {
            foreach (var trusted in new[] { true, false })
            {
                var compiled = work.Policies.EvaluateInvocation(tool, document, trusted);
                var reference = work.Reference.EvaluateInvocation(PolicyWorkload.Profile, tool, document, trusted);
                if ((compiled.Verdict, compiled.Source, compiled.PolicyId) != (reference.Verdict, reference.Source, reference.PolicyId))
                {
                    output.WriteLine($"policy decision differs for {tool} trusted={trusted}: compiled {compiled}, reference {reference}");
                    ok = false;
                }
            }
        }

        var result = work.Policies.EvaluateResult(PolicyWorkload.FileTool, work.ToolResult);
        var expected = work.Reference.EvaluateResult(PolicyWorkload.Profile, PolicyWorkload.FileTool, work.ToolResult);
        if ((result.Verdict, result.Source, result.PolicyId) != (expected.Verdict, expected.Source, expected.PolicyId))
        {
            output.WriteLine($"policy result decision differs: compiled {result}, reference {expected}");
            ok = false;
        }

        return ok;
    }

    private static bool IsValidJson(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            while (reader.Read()) { }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static (int Iterations, Dictionary<string, long> Budgets) Load(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        var iterations = root.GetProperty("iterations").GetInt32();
        var budgets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var budget in root.GetProperty("budgets").EnumerateObject())
        {
            budgets[budget.Name] = budget.Value.GetInt64();
        }

        return (iterations, budgets);
    }
}
