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

        if (args.Length > 1 && args[0] == "--llm-allocations")
        {
            var requests = args.Length > 2 && int.TryParse(args[2], System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 20_000;
            var retries = args.Length > 3 && int.TryParse(args[3], System.Globalization.CultureInfo.InvariantCulture, out var r) ? r : 2;
            return LlmAllocations.RunAsync(new Uri(args[1]), requests, retries, Console.Out).GetAwaiter().GetResult();
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
