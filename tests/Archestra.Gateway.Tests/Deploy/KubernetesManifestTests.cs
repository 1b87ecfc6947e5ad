using System.Diagnostics;
using System.Text.Json.Nodes;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Archestra.Gateway.Tests.Deploy;

/// <summary>
/// deploy/kubernetes as Kubernetes would receive it: rendered by the real kustomize (<c>kubectl kustomize</c>), then
/// checked object by object: hardening, probes, secrets by reference, selectors that select, ports that exist, and a
/// configuration file the gateway itself accepts.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly Lazy<IReadOnlyList<JsonObject>> s_base = new(() => Render("deploy/kubernetes"));

    private static IReadOnlyList<JsonObject> Base => s_base.Value;

    [Fact]
    public void The_base_renders_exactly_the_expected_objects()
    {
        var kinds = Base.Select(o => $"{o["kind"]}/{o["metadata"]!["name"]}").Order(StringComparer.Ordinal).ToArray();
        var config = Assert.Single(kinds, k => k.StartsWith("ConfigMap/archestra-config-", StringComparison.Ordinal));
        Assert.Equal(
            [
                config,
                "Deployment/archestra",
                "Namespace/archestra",
                "PodDisruptionBudget/archestra",
                "Role/archestra",
                "RoleBinding/archestra",
                "Service/archestra",
                "Service/archestra-admin",
                "Service/archestra-metrics",
                "ServiceAccount/archestra",
            ],
            kinds
        );
        Assert.All(Base.Where(o => (string?)o["kind"] != "Namespace"), o => Assert.Equal("archestra", (string?)o["metadata"]!["namespace"]));
    }

    [Fact]
    public void Gateway_pods_are_hardened_with_limits_and_no_privilege()
    {
        var pod = Object("Deployment", "archestra")["spec"]!["template"]!["spec"]!;
        Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!);
        Assert.NotEqual(0, (int)pod["securityContext"]!["runAsUser"]!);
        Assert.Equal("RuntimeDefault", (string?)pod["securityContext"]!["seccompProfile"]!["type"]);
        var container = Assert.Single(pod["containers"]!.AsArray())!;
        var security = container["securityContext"]!;
        Assert.False((bool)security["allowPrivilegeEscalation"]!);
        Assert.True((bool)security["readOnlyRootFilesystem"]!);
        Assert.Equal(["ALL"], security["capabilities"]!["drop"]!.AsArray().Select(n => (string?)n));
        Assert.Null(security["privileged"]);
        foreach (var kind in (string[])["requests", "limits"])
        {
            Assert.NotNull(container["resources"]![kind]!["cpu"]);
            Assert.NotNull(container["resources"]![kind]!["memory"]);
        }

        // A read-only root needs writable mounts for the audit spill and /tmp, and nothing else.
        var writable = container["volumeMounts"]!
            .AsArray()
            .Where(m => m!["readOnly"] is null)
            .Select(m => (string?)m!["mountPath"])
            .Order(StringComparer.Ordinal);
        Assert.Equal(["/tmp", "/var/lib/archestra"], writable);
        Assert.Equal(2, (int)Object("Deployment", "archestra")["spec"]!["replicas"]!);
    }

    [Fact]
    public void Secrets_are_read_from_a_Secret_never_written_into_the_spec()
    {
        var container = Object("Deployment", "archestra")["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => e!);
        foreach (var name in (string[])["ARCHESTRA_DATABASE_URL", "ARCHESTRA_SESSION_KEY", "ARCHESTRA_SECRET_KEY", "ARCHESTRA_ADMIN_KEY"])
        {
            Assert.True(env.ContainsKey(name), name + " is set");
            Assert.Null(env[name]["value"]);
            Assert.Equal("archestra", (string?)env[name]["valueFrom"]!["secretKeyRef"]!["name"]);
        }

        Assert.DoesNotContain(Base, o => (string?)o["kind"] == "Secret");
    }

    [Fact]
    public void Probes_use_the_gateway_health_endpoints_on_a_declared_port()
    {
        var container = Object("Deployment", "archestra")["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var ports = container["ports"]!.AsArray().ToDictionary(p => (string)p!["name"]!, p => (int)p!["containerPort"]!);
        Assert.Equal("/readyz", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/healthz", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
        foreach (var probe in (string[])["readinessProbe", "livenessProbe", "startupProbe"])
        {
            Assert.Equal("gateway", (string?)container[probe]!["httpGet"]!["port"]);
        }

        Assert.Equal(
            new Dictionary<string, int>
            {
                ["gateway"] = 9000,
                ["admin"] = 9001,
                ["metrics"] = 9050,
            },
            ports
        );
    }

    [Fact]
    public void Services_and_the_disruption_budget_select_the_gateway_pods_and_target_declared_ports()
    {
        var template = Object("Deployment", "archestra")["spec"]!["template"]!;
        var podLabels = template["metadata"]!["labels"]!.AsObject();
        var portNames = template["spec"]!["containers"]![0]!["ports"]!.AsArray().Select(p => (string?)p!["name"]).ToHashSet();
        Assert.True(Selects(Object("Deployment", "archestra")["spec"]!["selector"]!["matchLabels"]!.AsObject(), podLabels));
        foreach (
            var (service, port) in (ReadOnlySpan<(string, string)>)[("archestra", "gateway"), ("archestra-admin", "admin"), ("archestra-metrics", "metrics")]
        )
        {
            var spec = Object("Service", service)["spec"]!;
            Assert.Equal("ClusterIP", (string?)spec["type"]);
            Assert.True(Selects(spec["selector"]!.AsObject(), podLabels), service + " selects the gateway pods");
            Assert.Equal(port, (string?)Assert.Single(spec["ports"]!.AsArray())!["targetPort"]);
            Assert.Contains(port, portNames);
        }

        var budget = Object("PodDisruptionBudget", "archestra")["spec"]!;
        Assert.True(Selects(budget["selector"]!["matchLabels"]!.AsObject(), podLabels));
        Assert.Equal(1, (int)budget["minAvailable"]!);
        Assert.Equal("9050", (string?)template["metadata"]!["annotations"]!["prometheus.io/port"]);
    }

    [Fact]
    public void The_service_account_gets_namespaced_verbs_only_and_no_wildcards()
    {
        var pod = Object("Deployment", "archestra")["spec"]!["template"]!["spec"]!;
        Assert.Equal("archestra", (string?)pod["serviceAccountName"]);
        var binding = Object("RoleBinding", "archestra");
        Assert.Equal("Role", (string?)binding["roleRef"]!["kind"]);
        Assert.Equal("archestra", (string?)binding["subjects"]![0]!["name"]);
        Assert.DoesNotContain(Base, o => (string?)o["kind"] is "ClusterRole" or "ClusterRoleBinding");
        var grants = RoleGrants();
        Assert.DoesNotContain(grants, g => g.Contains('*', StringComparison.Ordinal));
        // Exactly the runtime's calls (KubernetesReconciler, KubernetesLease, KubernetesStatusReader, the logs and
        // restart endpoints); KubernetesOperationsTests checks each call the runtime makes against this Role.
        Assert.Equal(
            [
                "deployments:create",
                "deployments:delete",
                "deployments:list",
                "deployments:patch",
                "deployments:update",
                "leases:create",
                "leases:get",
                "leases:update",
                "networkpolicies:create",
                "networkpolicies:delete",
                "networkpolicies:list",
                "networkpolicies:update",
                "pods/log:get",
                "pods:list",
                "secrets:create",
                "secrets:delete",
                "secrets:list",
                "secrets:update",
                "services:create",
                "services:delete",
                "services:list",
                "services:update",
            ],
            grants
        );
    }

    /// <summary>The Role's grants as <c>resource:verb</c>, sorted.</summary>
    internal static string[] RoleGrants() =>
        Object("Role", "archestra")["rules"]!
            .AsArray()
            .SelectMany(r => r!["resources"]!.AsArray().SelectMany(res => r["verbs"]!.AsArray().Select(v => $"{res}:{v}")))
            .Order(StringComparer.Ordinal)
            .ToArray();

    [Fact]
    public void The_runtime_admits_ingress_from_the_gateway_pods_as_the_base_labels_them()
    {
        var podLabels = Object("Deployment", "archestra")["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        var defaults = new Runtime.Kubernetes.KubernetesOptions().GatewayLabels;
        Assert.NotEmpty(defaults);
        Assert.All(defaults, label => Assert.Equal(label.Value, (string?)podLabels[label.Key]));
    }

    [Fact]
    public void The_mounted_configuration_is_one_the_gateway_accepts_and_listens_on_the_pod_ports()
    {
        var deployment = Object("Deployment", "archestra")["spec"]!["template"]!["spec"]!;
        var configMapName = (string?)deployment["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "config")!["configMap"]!["name"];
        var configMap = Object("ConfigMap", configMapName!);
        var json = (string)configMap["data"]!["archestra.json"]!;
        var env = new Dictionary<string, string>
        {
            ["ARCHESTRA_DATABASE_URL"] = "postgres://archestra:secret@postgres:5432/archestra",
            ["ARCHESTRA_SESSION_KEY"] = new string('k', 64),
            ["ARCHESTRA_ADMIN_KEY"] = "arc_admin_example",
        };
        var loaded = ConfigLoader.LoadFromJson(json, "archestra.json", name => env.GetValueOrDefault(name));
        Assert.True(loaded.Succeeded, string.Join('\n', loaded.Errors));
        Assert.Equal("http://0.0.0.0:9000", loaded.Config.Listen.Gateway);
        Assert.Equal("http://0.0.0.0:9001", loaded.Config.Listen.Admin);
        Assert.Equal("http://0.0.0.0:9050", loaded.Config.Listen.Metrics);
        Assert.Equal("/var/lib/archestra", loaded.Config.Storage.DataDirectory);
        Assert.True(loaded.Config.Kubernetes!.InCluster);
        Assert.Equal("archestra", loaded.Config.Kubernetes.Namespace);
        Assert.Equal(env["ARCHESTRA_DATABASE_URL"], loaded.Config.Storage.Database);
        Assert.NotNull(loaded.Config.Security.SessionKey);
        Assert.Single(loaded.Config.AdminKeys);

        // The container's --config is where the ConfigMap is mounted.
        var container = deployment["containers"]![0]!;
        var mount = (string?)container["volumeMounts"]!.AsArray().Single(m => (string?)m!["name"] == "config")!["mountPath"];
        Assert.Equal(["serve", "--config", mount + "/archestra.json"], container["args"]!.AsArray().Select(a => (string?)a));
    }

    [Fact]
    public void The_runtimes_overlay_swaps_the_image_and_points_caches_at_the_writable_tmp()
    {
        var overlay = Render("deploy/kubernetes/overlays/runtimes");
        var container = overlay.Single(o => (string?)o["kind"] == "Deployment")["spec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Equal("ghcr.io/archestra-ai/archestra-runtimes:latest", (string?)container["image"]);
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        Assert.Equal("/tmp", env["HOME"]);
        Assert.StartsWith("/tmp/", env["npm_config_cache"], StringComparison.Ordinal);
        Assert.Equal(
            "ghcr.io/archestra-ai/archestra:latest",
            (string?)Object("Deployment", "archestra")["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]
        );
    }

    private static bool Selects(JsonObject selector, JsonObject labels) =>
        selector.Count > 0 && selector.All(kv => labels.TryGetPropertyValue(kv.Key, out var v) && (string?)v == (string?)kv.Value);

    private static JsonObject Object(string kind, string name) =>
        Assert.Single(Base, o => (string?)o["kind"] == kind && (string?)o["metadata"]!["name"] == name);

    private static IReadOnlyList<JsonObject> Render(string directory)
    {
        var psi = new ProcessStartInfo("kubectl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repo.Root,
        };
        psi.ArgumentList.Add("kustomize");
        psi.ArgumentList.Add(directory);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("kubectl did not start (scripts/setup.sh installs kubernetes-client)");
        var stderr = process.StandardError.ReadToEndAsync();
        var yaml = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"kubectl kustomize {directory} failed: {stderr.Result}");

        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Select(d => (JsonObject)ToJson(d.RootNode)!).ToArray();
    }

    // YAML scalars stay strings unless plain and numeric/boolean, which is how kustomize emits them.
    private static JsonNode? ToJson(YamlNode node) =>
        node switch
        {
            YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
            YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
            YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } s when int.TryParse(s.Value, out var n) => JsonValue.Create(n),
            YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: "true" or "false" } s => JsonValue.Create(s.Value == "true"),
            YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: "null" or "~" } => null,
            YamlScalarNode s => JsonValue.Create(s.Value),
            _ => throw new InvalidOperationException("unexpected YAML node " + node.NodeType),
        };
}
