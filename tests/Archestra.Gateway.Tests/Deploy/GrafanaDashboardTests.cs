using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Gateway.Tests.Kubernetes;

namespace Archestra.Gateway.Tests.Deploy;

/// <summary>
/// deploy/grafana/archestra-dashboard.json queries only metric families a running gateway exports (one with the
/// Kubernetes runtime and trace export on, so every family is there), and every query is PromQL that promtool accepts.
/// </summary>
public sealed partial class GrafanaDashboardTests : IAsyncLifetime
{
    private FakeKubernetes _cluster = null!;
    private string _work = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await FakeKubernetes.StartAsync();
        _work = Directory.CreateTempSubdirectory("archestra-grafana-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    private static JsonObject Dashboard() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.Root, "deploy", "grafana", "archestra-dashboard.json")))!.AsObject();

    private static List<(string Panel, string Expr)> Queries(JsonObject dashboard) =>
        [
            .. dashboard["panels"]!
                .AsArray()
                .Where(p => p!["targets"] is not null)
                .SelectMany(p => p!["targets"]!.AsArray().Select(t => (p["title"]!.GetValue<string>(), t!["expr"]!.GetValue<string>()))),
        ];

    [GeneratedRegex(@"\b(?:archestra|mcp|llm|dotnet|process)_[a-z_]+\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^# TYPE (\S+) ", RegexOptions.Multiline)]
    private static partial Regex Family();

    [Fact]
    public async Task Every_panel_queries_a_family_the_gateway_exports()
    {
        var json = $$"""
            {
              "kubernetes": { "namespace": "mcp", "kubeconfig": {{System.Text.Json.JsonSerializer.Serialize(_cluster.WriteKubeconfig(_work))}} },
              "telemetry": { "endpoint": "http://127.0.0.1:9", "metrics": false },
              "mcpServers": {
                "local": { "command": {{System.Text.Json.JsonSerializer.Serialize(Repo.Node)}}, "args": [{{System.Text.Json.JsonSerializer.Serialize(
                Repo.Everything
            )}}, "stdio"] },
                "pod": { "command": "node", "args": ["server.js"], "runtime": "kubernetes", "port": {{Repo.FreePort()}} }
              },
              "profiles": { "default": { "servers": ["local", "pod"] } }
            }
            """;
        var loaded = ConfigLoader.LoadFromJson(json, "grafana.json", static _ => null);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        await using var gateway = await GatewayHarness.StartAsync(loaded.Config!);
        using var http = new HttpClient();
        var families = new HashSet<string>(StringComparer.Ordinal);
        for (var attempt = 0; !families.Contains("archestra_kubernetes_ready_replicas"); attempt++)
        {
            Assert.True(attempt < 200, "the Kubernetes runtime's families never appeared in /metrics");
            await Task.Delay(50, TestContext.Current.CancellationToken);
            var text = await http.GetStringAsync(new Uri(gateway.Server.MetricsUrl, "/metrics"), TestContext.Current.CancellationToken);
            families.UnionWith(Family().Matches(text).Select(m => m.Groups[1].Value));
        }

        var queries = Queries(Dashboard());
        Assert.True(queries.Count >= 20, $"only {queries.Count} queries");
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (panel, expr) in queries)
        {
            var names = MetricName().Matches(expr).Select(m => m.Value).ToList();
            Assert.True(names.Count > 0, $"panel '{panel}' queries no Archestra metric: {expr}");
            foreach (var name in names)
            {
                var family = name.EndsWith("_bucket", StringComparison.Ordinal) ? name[..^"_bucket".Length] : name;
                Assert.True(families.Contains(family), $"panel '{panel}' queries {name}, which /metrics does not export");
                used.Add(family);
            }
        }

        // And the other way round: no family the gateway exports is missing from the dashboard.
        Assert.Empty(families.Where(f => !used.Contains(f)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Every_query_is_promql_that_promtool_accepts_and_panels_are_laid_out_once()
    {
        var dashboard = Dashboard();
        var panels = dashboard["panels"]!.AsArray().Select(p => p!.AsObject()).ToList();
        Assert.Equal(panels.Count, panels.Select(p => p["id"]!.GetValue<int>()).Distinct().Count());
        Assert.All(panels.Where(p => p["targets"] is not null), p => Assert.Equal("${datasource}", p["datasource"]!["uid"]!.GetValue<string>()));

        // Grafana's variables become what they stand for; each query becomes a recording rule for promtool to parse.
        var rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        var index = 0;
        foreach (var (_, expr) in Queries(dashboard))
        {
            var promql = expr.Replace("$__rate_interval", "5m", StringComparison.Ordinal).Replace("$profile", ".*", StringComparison.Ordinal);
            rules.Append("      - record: archestra:dashboard_query_").Append(index++).Append('\n');
            rules.Append("        expr: ").Append(System.Text.Json.JsonSerializer.Serialize(promql)).Append('\n');
        }

        var file = Path.Combine(_work, "dashboard-rules.yml");
        await File.WriteAllTextAsync(file, rules.ToString(), TestContext.Current.CancellationToken);
        var start = new ProcessStartInfo(Promtool.PathOrSkip(), ["check", "rules", file]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"promtool check rules failed:\n{output}\n{error}\n--- rules ---\n{rules}");
        Assert.Contains($"SUCCESS: {index} rules found", output, StringComparison.Ordinal);
    }
}
