using BenchmarkDotNet.Running;

namespace Archestra.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--check-budgets")
        {
            var path = args.Length > 1 ? args[1] : Path.Combine(AppContext.BaseDirectory, "budgets.json");
            return BudgetCheck.Run(path, Console.Out);
        }

        if (args.Length > 1 && args[0] == "--gateway-allocations")
        {
            var requests = args.Length > 2 && int.TryParse(args[2], System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 20_000;
            var quietHosting = args.Contains("--quiet-hosting-logger");
            return GatewayAllocations.RunAsync(new Uri(args[1]), requests, quietHosting, Console.Out).GetAwaiter().GetResult();
        }

        if (args.Length > 0 && args[0] == "--llm-allocations")
        {
            var requests = args.Length > 1 && int.TryParse(args[1], System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 5_000;
            LlmAllocations.MeasureAsync(requests, Console.Out, translated: args.Contains("--translated")).GetAwaiter().GetResult();
            return 0;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
