namespace Archestra.Runtime.Kubernetes;

/// <summary>The cluster the gateway runs MCP servers in: the configuration file's top-level <c>kubernetes</c> section.</summary>
public sealed record KubernetesOptions
{
    /// <summary>Where the Deployments, Services, Secrets, NetworkPolicies and the Lease live.</summary>
    public string Namespace { get; init; } = "default";

    /// <summary>True: the pod's service account (token and CA under /var/run/secrets/kubernetes.io/serviceaccount).</summary>
    public bool InCluster { get; init; }

    /// <summary>A kubeconfig file when not <see cref="InCluster"/>; null: <c>$KUBECONFIG</c> or <c>~/.kube/config</c>.</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>The kubeconfig context; null: its current-context.</summary>
    public string? Context { get; init; }

    /// <summary>
    /// The image stdio servers run in under <c>archestra bridge</c>: it must hold the archestra binary and the runtimes
    /// the commands need (deploy/Dockerfile.runtimes builds one with node and python).
    /// </summary>
    public string Image { get; init; } = "ghcr.io/archestra-ai/archestra-runtimes:latest";

    /// <summary>
    /// 50m/64Mi requested, 500m/512Mi at most: a Node.js MCP server idles near 50 MiB; the limits keep one runaway
    /// server from starving the node.
    /// </summary>
    public KubernetesResources Resources { get; init; } = KubernetesResources.Default;

    /// <summary>Extra labels on every object the gateway creates (the managed-by and server labels always win).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The gateway's pod labels: the NetworkPolicy admits ingress only from pods with all of them.</summary>
    public IReadOnlyDictionary<string, string> GatewayLabels { get; init; } =
        new Dictionary<string, string> { ["app.kubernetes.io/component"] = "gateway", ["app.kubernetes.io/instance"] = "archestra" };

    /// <summary>
    /// How often the loop compares the cluster with the configuration (and renews the Lease). 10 s: a third of the
    /// Lease's duration, as client-go's leader election renews well within its lease.
    /// </summary>
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The Lease's duration: another replica takes over this long after the holder stopped renewing.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>CPU and memory requests and limits as Kubernetes quantities (<c>100m</c>, <c>128Mi</c>).</summary>
public sealed record KubernetesResources(string CpuRequest, string MemoryRequest, string CpuLimit, string MemoryLimit)
{
    public static readonly KubernetesResources Default = new("50m", "64Mi", "500m", "512Mi");
}

/// <summary>What a server's pods may connect to.</summary>
public enum KubernetesEgressMode
{
    /// <summary>Nothing, not even DNS: the default, for servers that only compute or read what they are sent.</summary>
    None,

    /// <summary>DNS and the listed CIDR blocks (and ports).</summary>
    Rules,

    /// <summary>Anywhere.</summary>
    All,
}

/// <summary>One allowed destination: a CIDR block, and ports (empty: every port).</summary>
public sealed record KubernetesEgressRule(string Cidr, IReadOnlyList<int> Ports);

public sealed record KubernetesEgress(KubernetesEgressMode Mode, IReadOnlyList<KubernetesEgressRule> Rules)
{
    public static readonly KubernetesEgress None = new(KubernetesEgressMode.None, []);
}

/// <summary>A server's <c>"runtime": "kubernetes"</c> settings; unset ones take the <see cref="KubernetesOptions"/> defaults.</summary>
public sealed record KubernetesServerSettings
{
    /// <summary>Null: <see cref="KubernetesOptions.Image"/> (a stdio server), required for a server without a command.</summary>
    public string? Image { get; init; }

    /// <summary>The container port the server (or the bridge) listens on. 8080: the bridge's default.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The Streamable HTTP endpoint's path in the pod. /mcp: the bridge's and most servers' default.</summary>
    public string Path { get; init; } = "/mcp";

    public KubernetesResources? Resources { get; init; }

    public int Replicas { get; init; } = 1;

    public KubernetesEgress Egress { get; init; } = KubernetesEgress.None;

    /// <summary>By content (records compare their lists by reference); null equals only null.</summary>
    public static bool Same(KubernetesServerSettings? a, KubernetesServerSettings? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        return a.Image == b.Image
            && a.Port == b.Port
            && a.Path == b.Path
            && a.Resources == b.Resources
            && a.Replicas == b.Replicas
            && a.Egress.Mode == b.Egress.Mode
            && a.Egress.Rules.Count == b.Egress.Rules.Count
            && a.Egress.Rules.Zip(b.Egress.Rules).All(static p => p.First.Cidr == p.Second.Cidr && p.First.Ports.SequenceEqual(p.Second.Ports));
    }
}

/// <summary>One MCP server as the cluster runs it: the input of <see cref="KubernetesManifests.Build"/>.</summary>
public sealed record KubernetesWorkload
{
    public required string Name { get; init; }

    /// <summary>A stdio server's command (run under <c>archestra bridge</c>); null: the image runs as it is.</summary>
    public string? Command { get; init; }

    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Resolved values: they go into the server's Secret, never into the Deployment.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    public KubernetesServerSettings Settings { get; init; } = new();
}
