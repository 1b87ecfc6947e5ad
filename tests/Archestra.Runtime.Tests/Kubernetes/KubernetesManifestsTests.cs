using System.Text;
using System.Text.Json.Nodes;
using Archestra.Runtime.Kubernetes;
using k8s;

namespace Archestra.Runtime.Tests.Kubernetes;

/// <summary>The objects one server becomes, field by field, and their JSON as the API server receives it.</summary>
public sealed class KubernetesManifestsTests
{
    private static readonly KubernetesOptions s_options = new()
    {
        Namespace = "mcp",
        Image = "registry.local/runtimes:1",
        Labels = new Dictionary<string, string> { ["team"] = "ai" },
    };

    private static readonly KubernetesWorkload s_stdio = new()
    {
        Name = "memory",
        Command = "npx",
        Args = ["-y", "@modelcontextprotocol/server-memory"],
        Env = new Dictionary<string, string> { ["API_KEY"] = "s3cret-value", ["A_FIRST"] = "1" },
    };

    private static readonly KubernetesWorkload s_image = new()
    {
        Name = "Search_Tool",
        Args = ["--verbose"],
        Settings = new KubernetesServerSettings
        {
            Image = "ghcr.io/acme/search:2",
            Port = 3000,
            Path = "/v1/mcp",
            Replicas = 2,
            Resources = new KubernetesResources("250m", "256Mi", "1", "1Gi"),
            Egress = new KubernetesEgress(KubernetesEgressMode.Rules, [new KubernetesEgressRule("10.0.0.0/8", [443]), new("192.168.0.0/16", [])]),
        },
    };

    [Fact]
    public void A_stdio_server_runs_under_the_bridge_in_the_default_image_with_hardened_pods()
    {
        var deployment = KubernetesManifests.Build(s_stdio, s_options).Deployment;
        Assert.Equal(
            ("apps/v1", "Deployment", "mcp-memory", "mcp"),
            (deployment.ApiVersion, deployment.Kind, deployment.Metadata.Name, deployment.Metadata.NamespaceProperty)
        );
        Assert.Equal("archestra", deployment.Metadata.Labels["app.kubernetes.io/managed-by"]);
        Assert.Equal("mcp-memory", deployment.Metadata.Labels["archestra.io/server"]);
        Assert.Equal("ai", deployment.Metadata.Labels["team"]);
        Assert.Equal("memory", deployment.Metadata.Annotations["archestra.io/server-name"]);
        Assert.Matches("^[0-9a-f]{64}$", deployment.Metadata.Annotations["archestra.io/spec-hash"]);

        var spec = deployment.Spec;
        Assert.Equal(1, spec.Replicas);
        Assert.Equal(
            new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "archestra", ["archestra.io/server"] = "mcp-memory" },
            spec.Selector.MatchLabels
        );
        Assert.All(spec.Selector.MatchLabels, p => Assert.Equal(p.Value, spec.Template.Metadata.Labels[p.Key]));

        var pod = spec.Template.Spec;
        Assert.False(pod.AutomountServiceAccountToken);
        Assert.False(pod.EnableServiceLinks);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal(
            (65532L, 65532L, 65532L),
            (pod.SecurityContext.RunAsUser!.Value, pod.SecurityContext.RunAsGroup!.Value, pod.SecurityContext.FsGroup!.Value)
        );
        Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
        var tmp = Assert.Single(pod.Volumes);
        Assert.Equal(("tmp", "256Mi"), (tmp.Name, tmp.EmptyDir.SizeLimit.ToString()));

        var container = Assert.Single(pod.Containers);
        Assert.Equal(("server", "registry.local/runtimes:1"), (container.Name, container.Image));
        Assert.Equal(["archestra"], container.Command);
        Assert.Equal(["bridge", "--listen", "http://0.0.0.0:8080", "--path", "/mcp", "--", "npx", "-y", "@modelcontextprotocol/server-memory"], container.Args);
        var port = Assert.Single(container.Ports);
        Assert.Equal(("mcp", 8080, "TCP"), (port.Name, port.ContainerPort, port.Protocol));

        var security = container.SecurityContext;
        Assert.Equal((false, true, true), (security.AllowPrivilegeEscalation, security.ReadOnlyRootFilesystem, security.RunAsNonRoot));
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Null(security.Capabilities.Add);
        Assert.Null(security.Privileged);
        Assert.Equal("RuntimeDefault", security.SeccompProfile.Type);
        Assert.Equal(("tmp", "/tmp"), (container.VolumeMounts[0].Name, container.VolumeMounts[0].MountPath));

        Assert.Equal("50m", container.Resources.Requests["cpu"].ToString());
        Assert.Equal("64Mi", container.Resources.Requests["memory"].ToString());
        Assert.Equal("500m", container.Resources.Limits["cpu"].ToString());
        Assert.Equal("512Mi", container.Resources.Limits["memory"].ToString());

        Assert.Equal(("/readyz", "8080"), (container.ReadinessProbe.HttpGet.Path, container.ReadinessProbe.HttpGet.Port.Value));
        Assert.Equal(("/healthz", "8080"), (container.LivenessProbe.HttpGet.Path, container.LivenessProbe.HttpGet.Port.Value));
    }

    [Fact]
    public void Env_values_go_into_the_secret_and_the_pod_references_them_by_key()
    {
        var manifest = KubernetesManifests.Build(s_stdio, s_options);
        var env = manifest.Deployment.Spec.Template.Spec.Containers[0].Env;
        Assert.Equal(["API_KEY", "A_FIRST"], env.Select(e => e.Name)); // ordinal: the same on every replica
        Assert.All(env, e =>
        {
            Assert.Null(e.Value);
            Assert.Equal(("mcp-memory", e.Name), (e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key));
        });

        var secret = manifest.Secret!;
        Assert.Equal(
            ("v1", "Secret", "Opaque", "mcp-memory", "mcp"),
            (secret.ApiVersion, secret.Kind, secret.Type, secret.Metadata.Name, secret.Metadata.NamespaceProperty)
        );
        Assert.Equal("s3cret-value", Encoding.UTF8.GetString(secret.Data["API_KEY"]));
        Assert.Equal("archestra", secret.Metadata.Labels["app.kubernetes.io/managed-by"]);

        // On the wire: the value only in the Secret (base64), never in the Deployment, nor as a digest in an annotation.
        var deploymentJson = KubernetesJson.Serialize(manifest.Deployment);
        Assert.DoesNotContain("s3cret", deploymentJson, StringComparison.Ordinal);
        Assert.Contains("\"secretKeyRef\":{\"key\":\"API_KEY\",\"name\":\"mcp-memory\"}", deploymentJson, StringComparison.Ordinal);
        var secretJson = JsonNode.Parse(KubernetesJson.Serialize(secret))!;
        Assert.Equal(Convert.ToBase64String("s3cret-value"u8), (string?)secretJson["data"]!["API_KEY"]);
        Assert.DoesNotContain(
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("s3cret-value"u8)),
            KubernetesJson.Serialize(secret),
            StringComparison.Ordinal
        );
    }

    [Fact]
    public void A_server_without_env_has_no_secret()
    {
        var manifest = KubernetesManifests.Build(s_stdio with { Env = new Dictionary<string, string>() }, s_options);
        Assert.Null(manifest.Secret);
        Assert.Null(manifest.Deployment.Spec.Template.Spec.Containers[0].Env);
    }

    [Fact]
    public void An_image_runs_as_it_is_on_its_port_with_its_own_resources_and_replicas()
    {
        var manifest = KubernetesManifests.Build(s_image, s_options);
        Assert.StartsWith("mcp-search-tool-", manifest.ObjectName, StringComparison.Ordinal);
        var deployment = manifest.Deployment;
        Assert.Equal(2, deployment.Spec.Replicas);
        Assert.Equal("Search_Tool", deployment.Metadata.Annotations["archestra.io/server-name"]);
        var container = deployment.Spec.Template.Spec.Containers[0];
        Assert.Equal("ghcr.io/acme/search:2", container.Image);
        Assert.Null(container.Command);
        Assert.Equal(["--verbose"], container.Args);
        Assert.Equal(3000, container.Ports[0].ContainerPort);
        Assert.Equal("3000", container.ReadinessProbe.TcpSocket.Port.Value);
        Assert.Null(container.ReadinessProbe.HttpGet);
        Assert.Null(container.LivenessProbe);
        Assert.Equal(
            ("250m", "256Mi", "1", "1Gi"),
            (
                container.Resources.Requests["cpu"].ToString(),
                container.Resources.Requests["memory"].ToString(),
                container.Resources.Limits["cpu"].ToString(),
                container.Resources.Limits["memory"].ToString()
            )
        );
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);

        var service = manifest.Service;
        Assert.Equal(("v1", "Service", "ClusterIP"), (service.ApiVersion, service.Kind, service.Spec.Type));
        var port = Assert.Single(service.Spec.Ports);
        Assert.Equal((3000, "3000", "TCP"), (port.Port, port.TargetPort.Value, port.Protocol));
        Assert.Equal(deployment.Spec.Selector.MatchLabels, service.Spec.Selector);
        Assert.Null(service.Spec.ClusterIP);
    }

    [Fact]
    public void The_network_policy_admits_only_the_gateway_and_lets_out_dns_and_the_listed_blocks()
    {
        var policy = KubernetesManifests.Build(s_image, s_options).NetworkPolicy;
        Assert.Equal(("networking.k8s.io/v1", "NetworkPolicy"), (policy.ApiVersion, policy.Kind));
        Assert.Equal(["Ingress", "Egress"], policy.Spec.PolicyTypes);
        var ingress = Assert.Single(policy.Spec.Ingress);
        var from = Assert.Single(ingress.FromProperty);
        Assert.Equal(s_options.GatewayLabels, from.PodSelector.MatchLabels);
        Assert.Null(from.NamespaceSelector);
        Assert.Equal(("3000", "TCP"), (ingress.Ports[0].Port.Value, ingress.Ports[0].Protocol));

        Assert.Equal(3, policy.Spec.Egress.Count);
        var dns = policy.Spec.Egress[0];
        Assert.Equal("kube-system", dns.To[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]);
        Assert.Equal(["53/UDP", "53/TCP"], dns.Ports.Select(p => $"{p.Port.Value}/{p.Protocol}"));
        Assert.Equal(("10.0.0.0/8", "443"), (policy.Spec.Egress[1].To[0].IpBlock.Cidr, policy.Spec.Egress[1].Ports[0].Port.Value));
        Assert.Equal("192.168.0.0/16", policy.Spec.Egress[2].To[0].IpBlock.Cidr);
        Assert.Null(policy.Spec.Egress[2].Ports);
    }

    [Fact]
    public void Egress_none_denies_everything_and_all_allows_everything()
    {
        var none = JsonNode.Parse(KubernetesJson.Serialize(KubernetesManifests.Build(s_stdio, s_options).NetworkPolicy))!["spec"]!;
        Assert.Equal("[\"Ingress\",\"Egress\"]", none["policyTypes"]!.ToJsonString());
        Assert.Null(none["egress"]);

        var all = KubernetesManifests.Build(s_stdio with { Settings = new() { Egress = new(KubernetesEgressMode.All, []) } }, s_options).NetworkPolicy;
        var rule = Assert.Single(all.Spec.Egress);
        Assert.Null(rule.To);
        Assert.Null(rule.Ports);
        Assert.Equal("[{}]", JsonNode.Parse(KubernetesJson.Serialize(all))!["spec"]!["egress"]!.ToJsonString());
    }

    [Fact]
    public void The_same_configuration_gives_the_same_hashes_and_a_change_gives_a_new_one()
    {
        var a = KubernetesManifests.Build(s_stdio, s_options);
        var b = KubernetesManifests.Build(s_stdio with { Args = [.. s_stdio.Args] }, s_options with { });
        foreach (
            var (x, y) in new[]
            {
                (a.Deployment.Metadata, b.Deployment.Metadata),
                (a.Service.Metadata, b.Service.Metadata),
                (a.NetworkPolicy.Metadata, b.NetworkPolicy.Metadata),
            }
        )
        {
            Assert.Equal(x.Annotations["archestra.io/spec-hash"], y.Annotations["archestra.io/spec-hash"]);
        }

        var changed = KubernetesManifests.Build(s_stdio with { Args = ["-y", "other"] }, s_options);
        Assert.NotEqual(a.Deployment.Metadata.Annotations["archestra.io/spec-hash"], changed.Deployment.Metadata.Annotations["archestra.io/spec-hash"]);
        Assert.Equal(a.Service.Metadata.Annotations["archestra.io/spec-hash"], changed.Service.Metadata.Annotations["archestra.io/spec-hash"]);
    }
}
