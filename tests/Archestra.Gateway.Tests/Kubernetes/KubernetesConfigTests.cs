using Archestra.Gateway.Configuration;
using Archestra.Runtime.Kubernetes;

namespace Archestra.Gateway.Tests.Kubernetes;

/// <summary>The <c>kubernetes</c> section and <c>"runtime": "kubernetes"</c> servers: what loads, and what each mistake says.</summary>
public sealed class KubernetesConfigTests
{
    private const string Source = "k8s.json";

    private static readonly Dictionary<string, string> s_env = new() { ["API_KEY"] = "s3cret", ["REPLICAS"] = "3" };

    private static ConfigLoadResult Load(string json) => ConfigLoader.LoadFromJson(json, Source, name => s_env.TryGetValue(name, out var value) ? value : null);

    private static GatewayConfig Valid(string json)
    {
        var result = Load(json);
        Assert.Empty(result.Errors);
        return result.Config!;
    }

    private static void Invalid(string json, string expected)
    {
        var result = Load(json);
        Assert.False(result.Succeeded);
        Assert.Contains(result.Errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    private const string Section = """
        "kubernetes": { "namespace": "mcp", "kubeconfig": "/etc/kube/config", "context": "prod", "image": "registry.local/runtimes:1",
          "resources": { "requests": { "cpu": "100m" }, "limits": { "memory": "1Gi" } }, "labels": { "team": "ai", "example.com/tier": "tools" },
          "reconcileIntervalSeconds": 5, "leaseDurationSeconds": 20 }
        """;

    [Fact]
    public void The_section_and_a_stdio_and_an_image_server_load_with_defaults_filled_in()
    {
        var config = Valid(
            "{"
                + Section
                + """
                , "mcpServers": {
                    "memory": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], "env": { "KEY": "env:API_KEY" },
                      "runtime": "kubernetes", "replicas": "env:REPLICAS", "egress": [{ "cidr": "10.0.0.0/8", "ports": [443, 8443] }] },
                    "search": { "runtime": "kubernetes", "image": "ghcr.io/acme/search:2", "port": 3000, "path": "/v1/mcp", "args": ["--verbose"],
                      "resources": { "limits": { "cpu": "2" } }, "egress": "all" },
                    "local": { "command": "node", "args": ["x.js"], "runtime": "local" }
                  }
                }
                """
        );

        var k8s = config.Kubernetes!;
        Assert.Equal(
            ("mcp", false, "/etc/kube/config", "prod", "registry.local/runtimes:1"),
            (k8s.Namespace, k8s.InCluster, k8s.Kubeconfig, k8s.Context, k8s.Image)
        );
        Assert.Equal(new KubernetesResources("100m", "64Mi", "500m", "1Gi"), k8s.Resources);
        Assert.Equal("ai", k8s.Labels["team"]);
        Assert.Equal("tools", k8s.Labels["example.com/tier"]);
        Assert.Equal(TimeSpan.FromSeconds(5), k8s.ReconcileInterval);
        Assert.Equal(TimeSpan.FromSeconds(20), k8s.LeaseDuration);
        Assert.Equal("archestra", k8s.GatewayLabels["app.kubernetes.io/instance"]);

        var memory = config.McpServers[0];
        Assert.Equal(McpServerKind.Stdio, memory.Kind);
        Assert.Equal("s3cret", memory.Env["KEY"]);
        var settings = memory.Kubernetes!;
        Assert.Equal(
            (null, 8080, "/mcp", 3, (KubernetesResources?)null),
            (settings.Image, settings.Port, settings.Path, settings.Replicas, settings.Resources)
        );
        Assert.Equal(KubernetesEgressMode.Rules, settings.Egress.Mode);
        var rule = Assert.Single(settings.Egress.Rules);
        Assert.Equal("10.0.0.0/8", rule.Cidr);
        Assert.Equal([443, 8443], rule.Ports);

        var search = config.McpServers[1];
        Assert.Equal((McpServerKind.StreamableHttp, (Uri?)null, (string?)null), (search.Kind, search.Url, search.Command));
        Assert.Equal(["--verbose"], search.Args);
        Assert.Equal(("ghcr.io/acme/search:2", 3000, "/v1/mcp"), (search.Kubernetes!.Image, search.Kubernetes.Port, search.Kubernetes.Path));
        Assert.Equal(new KubernetesResources("50m", "64Mi", "2", "512Mi"), search.Kubernetes.Resources);
        Assert.Equal(KubernetesEgressMode.All, search.Kubernetes.Egress.Mode);

        Assert.Null(config.McpServers[2].Kubernetes);
    }

    [Fact]
    public void In_cluster_needs_no_kubeconfig_and_the_defaults_are_hardened()
    {
        var config = Valid(
            """{ "kubernetes": { "inCluster": true }, "mcpServers": { "m": { "command": "uvx", "args": ["mcp-server-time"], "runtime": "kubernetes" } } }"""
        );
        Assert.True(config.Kubernetes!.InCluster);
        Assert.Equal("default", config.Kubernetes.Namespace);
        Assert.Equal(KubernetesResources.Default, config.Kubernetes.Resources);
        Assert.Equal(KubernetesEgressMode.None, config.McpServers[0].Kubernetes!.Egress.Mode);
        Assert.Equal(1, config.McpServers[0].Kubernetes!.Replicas);
    }

    [Theory]
    [InlineData(
        """{ "mcpServers": { "m": { "command": "x", "runtime": "kubernetes" } } }""",
        "$.mcpServers.m.runtime: runtime 'kubernetes' needs the top-level kubernetes section"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "url": "http://h/mcp", "runtime": "kubernetes" } } }""",
        "$.mcpServers.m.runtime: a server with url already runs elsewhere"
    )]
    [InlineData("""{ "kubernetes": {}, "mcpServers": { "m": { "runtime": "kubernetes" } } }""", "$.mcpServers.m: expected command (a stdio server")]
    [InlineData("""{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "docker" } } }""", "expected one of local, kubernetes")]
    [InlineData(
        """{ "mcpServers": { "m": { "command": "x", "image": "a/b:1" } } }""",
        "$.mcpServers.m.image: image is only valid with \"runtime\": \"kubernetes\""
    )]
    [InlineData("""{ "mcpServers": { "m": { "command": "x", "replicas": 2 } } }""", "$.mcpServers.m.replicas: replicas is only valid with")]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "cwd": "/srv" } } }""",
        "cwd is only valid for a local server"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "replicas": 0 } } }""",
        "replicas: expected an integer between 1 and 100, got 0"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "port": 70000 } } }""",
        "port: expected an integer between 1 and 65535"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "path": "mcp" } } }""",
        "path: expected an absolute path"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "resources": { "limits": { "memory": "lots" } } } } }""",
        "$.mcpServers.m.resources.limits.memory: expected a Kubernetes quantity such as 128Mi or 1Gi, got 'lots'"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "resources": { "limits": { "cpu": "-1" } } } } }""",
        "expected a Kubernetes quantity such as 250m or 1, got '-1'"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "resources": { "limit": {} } } } }""",
        "$.mcpServers.m.resources.limit: unknown key; expected one of: requests, limits"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "egress": [{ "cidr": "10.0.0.1/8" }] } } }""",
        "$.mcpServers.m.egress[0].cidr: expected a CIDR block with no host bits set"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "egress": [{ "ports": [443] }] } } }""",
        "$.mcpServers.m.egress[0]: expected cidr"
    )]
    [InlineData("""{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "egress": "some" } } }""", "expected one of none, all")]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "env": { "MY VAR": "1" } } } }""",
        "env names become Secret keys"
    )]
    [InlineData(
        """{ "kubernetes": {}, "mcpServers": { "m": { "command": "x", "runtime": "kubernetes", "image": "has space" } } }""",
        "$.mcpServers.m.image: expected an image reference"
    )]
    [InlineData("""{ "kubernetes": {}, "mcpServers": { "m": { "image": "a/b", "runtime": "kubernetes", "type": "sse" } } }""", "type 'sse' does not fit")]
    [InlineData("""{ "kubernetes": { "namespace": "My_NS" } }""", "$.kubernetes.namespace: expected a namespace")]
    [InlineData("""{ "kubernetes": { "inCluster": true, "kubeconfig": "/k" } }""", "$.kubernetes.kubeconfig: inCluster is true")]
    [InlineData("""{ "kubernetes": { "inCluster": "yes" } }""", "$.kubernetes.inCluster: expected true or false")]
    [InlineData("""{ "kubernetes": { "labels": { "bad key!": "x" } } }""", "expected a label key such as team")]
    [InlineData("""{ "kubernetes": { "labels": { "team": "-x" } } }""", "$.kubernetes.labels.team: expected a label value")]
    [InlineData("""{ "kubernetes": { "gatewayLabels": {} } }""", "without one the NetworkPolicy would admit every pod")]
    [InlineData("""{ "kubernetes": { "reconcileIntervalSeconds": 30, "leaseDurationSeconds": 30 } }""", "must last longer than the reconcile interval")]
    [InlineData("""{ "kubernetes": { "namespaces": "x" } }""", "$.kubernetes.namespaces: unknown key")]
    public void Each_mistake_is_reported_at_its_path(string json, string expected) => Invalid(json, expected);

    [Theory]
    [InlineData("memory", "mcp-memory")]
    [InlineData("my-server-2", "mcp-my-server-2")]
    [InlineData("Memory", "mcp-memory-")]
    [InlineData("my_server", "mcp-my-server-")]
    [InlineData("trailing-", "mcp-trailing-")]
    public void Object_names_are_dns_labels_and_lossy_names_get_a_hash(string server, string prefix)
    {
        var name = KubernetesNames.ObjectName(server);
        Assert.StartsWith(prefix, name, StringComparison.Ordinal);
        Assert.True(KubernetesNames.IsDnsLabel(name), name);
        Assert.Equal(prefix.EndsWith('-') ? prefix.Length + 8 : prefix.Length, name.Length);
    }

    [Fact]
    public void Names_that_differ_only_in_case_or_underscores_get_different_objects_and_long_names_fit()
    {
        Assert.NotEqual(KubernetesNames.ObjectName("a_b"), KubernetesNames.ObjectName("a-b"));
        Assert.NotEqual(KubernetesNames.ObjectName("AB"), KubernetesNames.ObjectName("ab"));
        var longName = KubernetesNames.ObjectName(new string('x', 64));
        Assert.True(KubernetesNames.IsDnsLabel(longName), longName);
        Assert.Equal(63, longName.Length);
    }

    [Theory]
    [InlineData("100m", true)]
    [InlineData("1", true)]
    [InlineData("0.5", true)]
    [InlineData("1.5Gi", true)]
    [InlineData("128974848", true)]
    [InlineData("129e6", true)]
    [InlineData("123Mi", true)]
    [InlineData("1gi", false)]
    [InlineData("Mi", false)]
    [InlineData("-1", false)]
    [InlineData("1 Gi", false)]
    [InlineData("", false)]
    public void Quantities_follow_the_apimachinery_grammar(string value, bool valid) => Assert.Equal(valid, KubernetesNames.IsQuantity(value));
}
