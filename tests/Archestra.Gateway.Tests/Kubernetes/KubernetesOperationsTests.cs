using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Kubernetes;

/// <summary>
/// What an operator sees of servers on the Kubernetes runtime through the admin API (status, logs, restart) and the
/// failures they can act on: a missing RBAC verb, an image that cannot be pulled, a crash loop.
/// </summary>
public sealed class KubernetesOperationsTests : IAsyncLifetime
{
    private FakeKubernetes _cluster = null!;
    private string _work = null!;
    private GatewayHarness? _gateway;

    public async ValueTask InitializeAsync()
    {
        _cluster = await FakeKubernetes.StartAsync();
        _work = Directory.CreateTempSubdirectory("archestra-k8s-ops-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        await _cluster.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    private async Task<AdminClient> StartAsync(string servers, string profileServers)
    {
        var json = $$"""
            {
              "kubernetes": { "namespace": "mcp", "kubeconfig": {{System.Text.Json.JsonSerializer.Serialize(_cluster.WriteKubeconfig(_work))}},
                "reconcileIntervalSeconds": 1, "leaseDurationSeconds": 3 },
              "mcpServers": { {{servers}} },
              "profiles": { "default": { "servers": [{{profileServers}}] } }
            }
            """;
        var loaded = ConfigLoader.LoadFromJson(json, "k8s.json", static _ => null);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Errors));
        _gateway = await GatewayHarness.StartAsync(loaded.Config! with { AdminKeys = AdminClient.FileKeys });
        return new AdminClient(_gateway.Server.AdminUrl, AdminClient.RootKey);
    }

    private static string Everything(string name, int port) =>
        $$"""
            "{{name}}": { "command": "node", "args": [{{System.Text.Json.JsonSerializer.Serialize(
                Repo.Everything
            )}}, "stdio"], "runtime": "kubernetes", "port": {{port}} }
            """;

    private static async Task<System.Text.Json.JsonElement> StatusUntilAsync(
        AdminClient admin,
        string server,
        Func<System.Text.Json.JsonElement, bool> done,
        string what
    )
    {
        System.Text.Json.JsonElement last = default;
        await KubernetesRuntimeTests.UntilAsync(
            () =>
            {
                var reply = admin.GetAsync($"/api/mcp-servers/{server}/status").GetAwaiter().GetResult();
                Assert.Equal(HttpStatusCode.OK, reply.Status);
                last = reply.Json.GetProperty("kubernetes");
                return done(last);
            },
            what
        );
        return last;
    }

    [Fact(Timeout = 180_000)]
    public async Task Status_shows_ready_pods_logs_come_from_the_pod_log_api_and_restart_rolls_the_pods()
    {
        var port = Repo.FreePort();
        using var admin = await StartAsync(Everything("everything", port), "\"everything\"");
        var k8s = await StatusUntilAsync(admin, "everything", s => s.GetProperty("readyReplicas").GetInt32() == 1, "a ready pod");
        Assert.Equal("mcp-everything", k8s.GetProperty("objectName").GetString());
        Assert.Equal($"http://127.0.0.1:{port}/mcp", k8s.GetProperty("address").GetString());
        Assert.True(k8s.GetProperty("deployed").GetBoolean());
        Assert.False(k8s.TryGetProperty("lastFailure", out _));
        Assert.Equal(_gateway!.Server.Kubernetes!.Identity, k8s.GetProperty("reconciler").GetString());

        // The pod runs the bridge, whose log says where it listens.
        await KubernetesRuntimeTests.UntilAsync(
            () => admin.GetAsync("/api/mcp-servers/everything/logs?lines=50").GetAwaiter().GetResult().Text.Contains("127.0.0.1", StringComparison.Ordinal),
            "the bridge's log line"
        );
        var logs = await admin.GetAsync("/api/mcp-servers/everything/logs?lines=50");
        Assert.Equal(HttpStatusCode.OK, logs.Status);
        Assert.StartsWith("mcp-everything-", logs.Json.GetProperty("pod").GetString(), StringComparison.Ordinal);
        Assert.Contains(_cluster.Requests, r => r == "get pods/log " + logs.Json.GetProperty("pod").GetString());

        var restarted = await admin.PostAsync("/api/mcp-servers/everything/restart", "{}");
        Assert.Equal(HttpStatusCode.OK, restarted.Status);
        Assert.Contains(_cluster.Requests, r => r == "patch deployments.apps mcp-everything");
        var annotations = _cluster.Get("deployments", "mcp-everything")!["spec"]!["template"]!["metadata"]!["annotations"]!;
        Assert.NotNull(annotations["kubectl.kubernetes.io/restartedAt"]);
        await KubernetesRuntimeTests.UntilAsync(() => _cluster.Starts("mcp-everything") == 2, "the rollout's new pod");

        // The next passes keep the restart's annotation (a reconcile that dropped it would roll the pods again).
        var passes = _gateway.Server.Kubernetes.Passes;
        await KubernetesRuntimeTests.UntilAsync(() => _gateway.Server.Kubernetes.Passes >= passes + 2, "two more passes");
        Assert.Equal(2, _cluster.Starts("mcp-everything"));

        // Every call the runtime made is granted by the Role in deploy/kubernetes (RBAC's resource without the group).
        var used = _cluster.Requests.Select(r => r.Split(' ')).Select(p => $"{p[1].Split('.')[0]}:{p[0]}").ToHashSet();
        Assert.Subset(Deploy.KubernetesManifestTests.RoleGrants().ToHashSet(), used);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_missing_rbac_verb_is_named_with_its_resource_in_status_and_metrics()
    {
        _cluster.Forbidden.Add(("create", "deployments.apps"));
        using var admin = await StartAsync(Everything("everything", Repo.FreePort()), "\"everything\"");
        var k8s = await StatusUntilAsync(admin, "everything", s => s.TryGetProperty("runtimeError", out _), "the runtime error");
        var message = k8s.GetProperty("runtimeError").GetString()!;
        Assert.Contains("may not create deployments.apps in namespace 'mcp'", message, StringComparison.Ordinal);
        Assert.Contains("grant the verb 'create' on 'deployments.apps'", message, StringComparison.Ordinal);
        Assert.Contains("cannot create resource \"deployments\" in API group \"apps\"", message, StringComparison.Ordinal);
        Assert.False(k8s.GetProperty("deployed").GetBoolean());

        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(_gateway!.Server.MetricsUrl, "/metrics"), TestContext.Current.CancellationToken);
        Assert.Matches("archestra_kubernetes_failures_total\\{kind=\"forbidden\"\\} [1-9]", metrics);
        Assert.Contains("archestra_kubernetes_api_up 0", metrics, StringComparison.Ordinal);

        // Granted: the next pass creates it.
        _cluster.Forbidden.Clear();
        await StatusUntilAsync(admin, "everything", s => s.GetProperty("deployed").GetBoolean() && !s.TryGetProperty("runtimeError", out _), "the Deployment");
    }

    [Fact(Timeout = 180_000)]
    public async Task An_image_that_cannot_be_pulled_and_a_crash_loop_show_in_status_with_what_to_do()
    {
        _cluster.Images["local/exits:1"] = ["sh", "-c", "echo starting; echo 'fatal: no config' >&2; exit 3"];
        using var admin = await StartAsync(
            """
            "missing": { "runtime": "kubernetes", "image": "registry.example/does-not-exist:9", "port": 9 },
            "crashing": { "runtime": "kubernetes", "image": "local/exits:1", "port": 10 }
            """,
            "\"missing\", \"crashing\""
        );

        var missing = await StatusUntilAsync(admin, "missing", s => s.TryGetProperty("lastFailure", out _), "the pull failure");
        Assert.Contains("image 'registry.example/does-not-exist:9' cannot be pulled", missing.GetProperty("lastFailure").GetString(), StringComparison.Ordinal);
        Assert.Contains("check the image name and tag", missing.GetProperty("lastFailure").GetString(), StringComparison.Ordinal);

        var crashing = await StatusUntilAsync(
            admin,
            "crashing",
            s => s.TryGetProperty("lastFailure", out _) && s.GetProperty("restarts").GetInt32() >= 2,
            "a crash loop"
        );
        Assert.Matches(
            "^crash loop: pod mcp-crashing-[0-9a-f]+ restarted [0-9]+ times; last exit code 3 \\(Error\\); see the server's logs$",
            crashing.GetProperty("lastFailure").GetString()
        );
        Assert.Equal(0, crashing.GetProperty("readyReplicas").GetInt32());

        var logs = await admin.GetAsync("/api/mcp-servers/crashing/logs?lines=10");
        Assert.Contains("fatal: no config", logs.Text, StringComparison.Ordinal);

        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(_gateway!.Server.MetricsUrl, "/metrics"), TestContext.Current.CancellationToken);
        Assert.Contains("archestra_kubernetes_server_failing{server=\"crashing\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("archestra_kubernetes_server_failing{server=\"missing\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_server_created_through_the_admin_api_runs_on_the_cluster_too()
    {
        using var admin = await StartAsync(Everything("everything", Repo.FreePort()), "\"everything\"");
        var port = Repo.FreePort();
        var created = await admin.PostAsync(
            "/api/mcp-servers",
            $$"""
            { "name": "second", "command": "node", "args": [{{System.Text.Json.JsonSerializer.Serialize(Repo.Everything)}}, "stdio"],
              "runtime": "kubernetes", "port": {{port}}, "replicas": 2 }
            """
        );
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Equal("kubernetes", created.Json.GetProperty("config").GetProperty("runtime").GetString());
        await KubernetesRuntimeTests.UntilAsync(() => _cluster.Get("deployments", "mcp-second") is not null, "the API server's Deployment");
        Assert.Equal(2, (int)_cluster.Get("deployments", "mcp-second")!["spec"]!["replicas"]!);

        var refused = await admin.PostAsync("/api/mcp-servers", """{ "name": "third", "command": "x", "runtime": "kubernetes", "replicas": 0 }""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Contains(refused.Errors, e => e.Path == "$.replicas" && e.Message.Contains("between 1 and 100", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/mcp-servers/second")).Status);
        await KubernetesRuntimeTests.UntilAsync(() => _cluster.Get("deployments", "mcp-second") is null, "the Deployment to go with the server");
    }
}
