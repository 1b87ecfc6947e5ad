using System.Text.Json.Nodes;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Runtime.Upstreams;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Kubernetes;

/// <summary>
/// The runtime against the fake API server, which runs each Deployment's container as a local process: the real
/// <c>archestra bridge</c> in front of the real server-everything. An MCP call through the gateway reaches it.
/// </summary>
public sealed class KubernetesRuntimeTests : IAsyncLifetime
{
    private FakeKubernetes _cluster = null!;
    private string _work = null!;
    private readonly List<IAsyncDisposable> _gateways = [];

    public async ValueTask InitializeAsync()
    {
        _cluster = await FakeKubernetes.StartAsync();
        _work = Directory.CreateTempSubdirectory("archestra-k8s-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await gateway.DisposeAsync();
        }

        await _cluster.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    private static readonly Dictionary<string, string> s_env = new() { ["K8S_GREETING"] = "hello from a secret" };

    /// <summary>The configuration as a user writes it: server-everything on the Kubernetes runtime, on a port of its own.</summary>
    private GatewayConfig Config(int port, string extraServers = "")
    {
        var json = $$"""
            {
              "kubernetes": { "namespace": "mcp", "kubeconfig": {{System.Text.Json.JsonSerializer.Serialize(_cluster.WriteKubeconfig(_work))}},
                "reconcileIntervalSeconds": 1, "leaseDurationSeconds": 3, "labels": { "team": "tests" } },
              "mcpServers": {
                "everything": { "command": "node", "args": [{{System.Text.Json.JsonSerializer.Serialize(Repo.Everything)}}, "stdio"],
                  "env": { "GREETING": "env:K8S_GREETING" }, "runtime": "kubernetes", "port": {{port}} }{{extraServers}}
              },
              "profiles": { "default": { "servers": ["everything"] } }
            }
            """;
        var loaded = ConfigLoader.LoadFromJson(json, "k8s.json", name => s_env.GetValueOrDefault(name));
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        return loaded.Config!;
    }

    private async Task<GatewayHarness> StartGatewayAsync(GatewayConfig config)
    {
        var gateway = await GatewayHarness.StartAsync(config);
        _gateways.Add(gateway);
        return gateway;
    }

    private static async Task<McpClient> ConnectAsync(GatewayHarness gateway) =>
        await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = gateway.McpUrl("default"), TransportMode = HttpTransportMode.StreamableHttp }),
            LegacyClient.Options(),
            cancellationToken: TestContext.Current.CancellationToken
        );

    /// <summary>Polls until <paramref name="done"/> holds; fails with <paramref name="what"/> after 90 s.</summary>
    internal static async Task UntilAsync(Func<bool> done, string what, int seconds = 90)
    {
        for (var i = 0; i < seconds * 10; i++)
        {
            if (done())
            {
                return;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"timed out waiting for {what}");
    }

    private static Task ReadyAsync(GatewayHarness gateway) =>
        UntilAsync(
            () => gateway.Server.Gateway.Entries.TryGetValue("everything", out var entry) && entry.Upstream.State == UpstreamState.Ready,
            "the gateway to connect to everything's Service"
        );

    private static async Task<string> EchoAsync(GatewayHarness gateway, string message)
    {
        await using var client = await ConnectAsync(gateway);
        var result = await client.CallToolAsync(
            "echo",
            new Dictionary<string, object?> { ["message"] = message },
            cancellationToken: TestContext.Current.CancellationToken
        );
        return string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));
    }

    [Fact(Timeout = 180_000)]
    public async Task An_mcp_call_through_the_gateway_reaches_server_everything_in_a_pod_through_the_bridge()
    {
        var port = Repo.FreePort();
        var gateway = await StartGatewayAsync(Config(port));
        await ReadyAsync(gateway);

        Assert.Contains("Echo: through the cluster", await EchoAsync(gateway, "through the cluster"), StringComparison.Ordinal);
        var upstream = (HttpUpstreamOptions)gateway.Server.Gateway.Entries["everything"].Upstream.Options;
        Assert.Equal(new Uri($"http://127.0.0.1:{port}/mcp"), upstream.Url);

        // The env value went through the Secret: the pod's process (the bridge, then server-everything) has it.
        await using (var client = await ConnectAsync(gateway))
        {
            var env = await client.CallToolAsync("get-env", cancellationToken: TestContext.Current.CancellationToken);
            Assert.Contains("hello from a secret", string.Join("\n", env.Content.OfType<TextContentBlock>().Select(t => t.Text)), StringComparison.Ordinal);
        }

        var deployment = _cluster.Get("deployments", "mcp-everything")!;
        Assert.Equal("archestra", (string?)deployment["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]);
        Assert.Equal("tests", (string?)deployment["metadata"]!["labels"]!["team"]);
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Equal("GREETING", (string?)container["env"]![0]!["name"]);
        Assert.Null(container["env"]![0]!["value"]);
        Assert.Equal("mcp-everything", (string?)container["env"]![0]!["valueFrom"]!["secretKeyRef"]!["name"]);
        Assert.DoesNotContain("hello from a secret", deployment.ToJsonString(), StringComparison.Ordinal);
        Assert.NotNull(_cluster.Get("secrets", "mcp-everything"));
        Assert.NotNull(_cluster.Get("networkpolicies", "mcp-everything"));
        Assert.Equal("127.0.0.1", (string?)_cluster.Get("services", "mcp-everything")!["spec"]!["clusterIP"]);
        Assert.Equal(gateway.Server.Kubernetes!.Identity, (string?)_cluster.Get("leases", "archestra-runtime")!["spec"]!["holderIdentity"]);

        // Status, as the admin API shows it, once the pod's readiness probe passed.
        var server = gateway.Server.Gateway.Config.McpServers[0];
        await UntilAsync(() => gateway.Server.Kubernetes.View(server)!.Status is { ReadyReplicas: 1 }, "the pod to be ready");
        var view = gateway.Server.Kubernetes.View(server)!;
        Assert.Equal((1, 1, 0), (view.Status!.Replicas, view.Status.ReadyReplicas, view.Status.Restarts));
        Assert.Null(view.Status.LastFailure);
        Assert.Null(view.RuntimeFailure);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_deployment_deleted_by_hand_is_recreated_and_a_hand_edited_spec_is_reverted()
    {
        var gateway = await StartGatewayAsync(Config(Repo.FreePort()));
        await ReadyAsync(gateway);

        _cluster.DeleteByHand("deployments", "mcp-everything");
        await UntilAsync(() => _cluster.Get("deployments", "mcp-everything") is not null, "the Deployment to be recreated");
        await UntilAsync(() => _cluster.Starts("mcp-everything") >= 2, "the recreated Deployment's pod to start");
        await UntilAsync(
            () => Path(_cluster.Get("deployments", "mcp-everything")!, "status", "readyReplicas")?.GetValue<int>() == 1,
            "the new pod to be ready"
        );
        await ReadyAsync(gateway);
        Assert.Contains("Echo: back again", await EchoAsync(gateway, "back again"), StringComparison.Ordinal);

        // kubectl edit: a privileged container and another image; the spec-hash annotation untouched.
        var before = _cluster.Get("deployments", "mcp-everything")!["metadata"]!["resourceVersion"]!.GetValue<string>();
        _cluster.EditByHand("deployments", "mcp-everything", d =>
        {
            var container = d["spec"]!["template"]!["spec"]!["containers"]![0]!;
            container["image"] = "evil/miner:latest";
            container["securityContext"]!["allowPrivilegeEscalation"] = true;
        });
        await UntilAsync(
            () =>
                _cluster.Get("deployments", "mcp-everything") is { } d
                && d["metadata"]!["resourceVersion"]!.GetValue<string>() != before
                && (string?)d["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] != "evil/miner:latest",
            "the hand edit to be reverted"
        );
        var container = _cluster.Get("deployments", "mcp-everything")!["spec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.False((bool)container["securityContext"]!["allowPrivilegeEscalation"]!);
        Assert.Contains(_cluster.Requests, r => r == "update deployments.apps mcp-everything");
    }

    [Fact(Timeout = 180_000)]
    public async Task While_the_api_server_is_down_status_says_so_and_the_runtime_catches_up_when_it_returns()
    {
        var gateway = await StartGatewayAsync(Config(Repo.FreePort()));
        await ReadyAsync(gateway);
        var runtime = gateway.Server.Kubernetes!;
        var server = gateway.Server.Gateway.Config.McpServers[0];

        await _cluster.GoDownAsync();
        await UntilAsync(() => runtime.View(server)!.RuntimeFailure is { Kind: Runtime.Kubernetes.KubernetesFailureKind.Unreachable }, "the failure to show");
        Assert.Contains("is unreachable", runtime.View(server)!.RuntimeFailure!.Message, StringComparison.Ordinal);
        var metrics = new System.Text.StringBuilder();
        runtime.WritePrometheus(metrics);
        Assert.Contains("archestra_kubernetes_api_up 0", metrics.ToString(), StringComparison.Ordinal);
        Assert.Matches("archestra_kubernetes_failures_total\\{kind=\"unreachable\"\\} [1-9]", metrics.ToString());

        // The servers keep serving while the API is away: pods do not need it.
        Assert.Contains("Echo: still here", await EchoAsync(gateway, "still here"), StringComparison.Ordinal);

        // Meanwhile someone deletes the Service; when the API is back the runtime recreates it.
        _cluster.DeleteByHand("services", "mcp-everything");
        await _cluster.ComeBackAsync();
        await UntilAsync(() => runtime.View(server)!.RuntimeFailure is null, "the runtime to recover");
        await UntilAsync(() => _cluster.Get("services", "mcp-everything") is not null, "the Service to be recreated");
    }

    [Fact(Timeout = 180_000)]
    public async Task Two_gateways_share_the_cluster_and_only_the_lease_holder_writes()
    {
        var port = Repo.FreePort();
        var first = await StartGatewayAsync(Config(port));
        var second = await StartGatewayAsync(Config(port));
        await ReadyAsync(first);
        await ReadyAsync(second);
        await UntilAsync(() => first.Server.Kubernetes!.Passes >= 3 && second.Server.Kubernetes!.Passes >= 3, "a few passes of both");

        var holder = (string?)_cluster.Get("leases", "archestra-runtime")!["spec"]!["holderIdentity"];
        var leaders = new[] { first, second }.Where(g => g.Server.Kubernetes!.Leading).ToList();
        var leader = Assert.Single(leaders);
        Assert.Equal(leader.Server.Kubernetes!.Identity, holder);
        Assert.Single(_cluster.Requests, r => r == "create deployments.apps");
        Assert.Equal(1, _cluster.Starts("mcp-everything"));

        // Both serve calls through the same pod.
        Assert.Contains("Echo: one", await EchoAsync(first, "one"), StringComparison.Ordinal);
        Assert.Contains("Echo: two", await EchoAsync(second, "two"), StringComparison.Ordinal);

        // The leader stops; once its lease expires the other one takes over and repairs what happened meanwhile.
        var follower = leader == first ? second : first;
        await leader.DisposeAsync();
        _gateways.Remove(leader);
        _cluster.DeleteByHand("networkpolicies", "mcp-everything");
        await UntilAsync(() => follower.Server.Kubernetes!.Leading, "the other gateway to take the lease");
        await UntilAsync(() => _cluster.Get("networkpolicies", "mcp-everything") is not null, "the NetworkPolicy to be recreated");
        Assert.Equal(follower.Server.Kubernetes!.Identity, (string?)_cluster.Get("leases", "archestra-runtime")!["spec"]!["holderIdentity"]);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_server_removed_from_the_configuration_leaves_no_objects_behind()
    {
        var gateway = await StartGatewayAsync(Config(Repo.FreePort()));
        await ReadyAsync(gateway);
        var config = gateway.Server.Gateway.Config;
        await gateway.Server.Gateway.ApplyAsync(config with { McpServers = [], Profiles = [] }, TestContext.Current.CancellationToken);

        await UntilAsync(
            () => new[] { "deployments", "services", "secrets", "networkpolicies" }.All(r => _cluster.All(r).Count == 0),
            "every object of the removed server to be deleted"
        );
        await UntilAsync(() => _cluster.All("pods").Count == 0, "its pod to stop");
    }

    [Fact(Timeout = 180_000)]
    public async Task A_changed_env_value_updates_the_secret_and_rolls_the_pods_without_touching_the_deployment_spec()
    {
        var gateway = await StartGatewayAsync(Config(Repo.FreePort()));
        await ReadyAsync(gateway);
        var hash = (string?)_cluster.Get("deployments", "mcp-everything")!["metadata"]!["annotations"]!["archestra.io/spec-hash"];

        var config = gateway.Server.Gateway.Config;
        var server = config.McpServers[0] with { Env = new Dictionary<string, string> { ["GREETING"] = "a rotated secret" } };
        await gateway.Server.Gateway.ApplyAsync(config with { McpServers = [server] }, TestContext.Current.CancellationToken);

        await UntilAsync(() => _cluster.Starts("mcp-everything") >= 2, "the rollout for the new Secret");
        var secret = _cluster.Get("secrets", "mcp-everything")!;
        Assert.Equal(Convert.ToBase64String("a rotated secret"u8), (string?)secret["data"]!["GREETING"]);
        Assert.Contains(_cluster.Requests, r => r == "update secrets mcp-everything");
        Assert.Contains(_cluster.Requests, r => r == "patch deployments.apps mcp-everything");
        Assert.Equal(hash, (string?)_cluster.Get("deployments", "mcp-everything")!["metadata"]!["annotations"]!["archestra.io/spec-hash"]);

        await UntilAsync(() => Path(_cluster.Get("deployments", "mcp-everything")!, "status", "readyReplicas")?.GetValue<int>() == 1, "the new pod");
        await ReadyAsync(gateway);
        var seen = "";
        for (var i = 0; i < 60 && !seen.Contains("a rotated secret", StringComparison.Ordinal); i++)
        {
            seen = await EnvAsync(gateway);
            await Task.Delay(500, TestContext.Current.CancellationToken);
        }

        Assert.Contains("a rotated secret", seen, StringComparison.Ordinal);
    }

    /// <summary>The server's environment as its get-env tool shows it; empty while the new pod is not reachable yet.</summary>
    private static async Task<string> EnvAsync(GatewayHarness gateway)
    {
        try
        {
            await using var client = await ConnectAsync(gateway);
            var env = await client.CallToolAsync("get-env", cancellationToken: TestContext.Current.CancellationToken);
            return string.Join("\n", env.Content.OfType<TextContentBlock>().Select(t => t.Text));
        }
        catch (Exception ex) when (ex is HttpRequestException or ModelContextProtocol.McpException or IOException)
        {
            return "";
        }
    }

    internal static JsonNode? Path(JsonNode node, params string[] keys) => keys.Aggregate((JsonNode?)node, (n, k) => n?[k]);
}
