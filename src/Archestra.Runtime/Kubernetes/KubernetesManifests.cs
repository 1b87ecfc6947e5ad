using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Models;

namespace Archestra.Runtime.Kubernetes;

/// <summary>The objects that run one MCP server; <see cref="Secret"/> is null when the server has no environment.</summary>
public sealed record KubernetesManifest(V1Deployment Deployment, V1Service Service, V1Secret? Secret, V1NetworkPolicy NetworkPolicy)
{
    public string ObjectName => Deployment.Metadata.Name;
}

/// <summary>
/// Turns a server's configuration into its Deployment, Service, Secret and NetworkPolicy. A pure function: the same
/// input gives the same objects and the same spec-hash annotations, on every replica.
/// </summary>
public static class KubernetesManifests
{
    /// <summary>The container's name in every server pod.</summary>
    public const string ContainerName = "server";

    /// <summary>The uid and gid pods run as: 65532, distroless' "nonroot", as in deploy/Dockerfile.</summary>
    public const long NonRootUser = 65532;

    /// <summary>/tmp in the pod: the root filesystem is read-only, and npm, uv and pip need a writable cache and home.</summary>
    public const string TmpSizeLimit = "256Mi";

    public static KubernetesManifest Build(KubernetesWorkload workload, KubernetesOptions options)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(options);
        var name = KubernetesNames.ObjectName(workload.Name);
        var labels = Labels(options, name);
        var selector = new Dictionary<string, string>
        {
            [KubernetesNames.ManagedByLabel] = KubernetesNames.ManagedByValue,
            [KubernetesNames.ServerLabel] = name,
        };
        var secret = workload.Env.Count == 0 ? null : BuildSecret(workload, options, name, labels);
        var manifest = new KubernetesManifest(
            BuildDeployment(workload, options, name, labels, selector),
            BuildService(workload, options, name, labels, selector),
            secret,
            BuildNetworkPolicy(workload, options, name, labels, selector)
        );
        Stamp(manifest.Deployment.Metadata, SpecHash(manifest.Deployment));
        Stamp(manifest.Service.Metadata, SpecHash(manifest.Service));
        Stamp(manifest.NetworkPolicy.Metadata, SpecHash(manifest.NetworkPolicy));
        if (secret is not null)
        {
            // The Secret's hash covers only its keys: an annotation must not give away a digest of the values.
            Stamp(secret.Metadata, HashOf(string.Join('\n', secret.Data.Keys.Order(StringComparer.Ordinal))));
        }

        return manifest;
    }

    /// <summary>The container's command line: a stdio server under the bridge, or the image's own entrypoint.</summary>
    public static (IList<string>? Command, IList<string>? Args) CommandLine(KubernetesWorkload workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var settings = workload.Settings;
        if (workload.Command is null)
        {
            return (null, workload.Args.Count == 0 ? null : [.. workload.Args]);
        }

        var listen = "http://0.0.0.0:" + settings.Port.ToString(CultureInfo.InvariantCulture);
        List<string> args = ["bridge", "--listen", listen, "--path", settings.Path, "--", workload.Command, .. workload.Args];
        return (["archestra"], args);
    }

    private static Dictionary<string, string> Labels(KubernetesOptions options, string name)
    {
        var labels = new Dictionary<string, string>(options.Labels, StringComparer.Ordinal)
        {
            [KubernetesNames.ManagedByLabel] = KubernetesNames.ManagedByValue,
            [KubernetesNames.ServerLabel] = name,
            ["app.kubernetes.io/name"] = name,
            ["app.kubernetes.io/component"] = "mcp-server",
        };
        return labels;
    }

    private static V1ObjectMeta Metadata(KubernetesWorkload workload, KubernetesOptions options, string name, Dictionary<string, string> labels) =>
        new()
        {
            Name = name,
            NamespaceProperty = options.Namespace,
            Labels = new Dictionary<string, string>(labels),
            Annotations = new Dictionary<string, string> { [KubernetesNames.ServerNameAnnotation] = workload.Name },
        };

    private static V1Deployment BuildDeployment(
        KubernetesWorkload workload,
        KubernetesOptions options,
        string name,
        Dictionary<string, string> labels,
        Dictionary<string, string> selector
    )
    {
        var settings = workload.Settings;
        var resources = settings.Resources ?? options.Resources;
        var (command, args) = CommandLine(workload);
        var bridged = workload.Command is not null;
        var port = settings.Port;
        var env = workload
            .Env.Keys.Order(StringComparer.Ordinal)
            .Select(key => new V1EnvVar
            {
                Name = key,
                ValueFrom = new V1EnvVarSource
                {
                    SecretKeyRef = new V1SecretKeySelector { Name = name, Key = key },
                },
            })
            .ToList();
        var container = new V1Container
        {
            Name = ContainerName,
            Image = settings.Image ?? options.Image,
            Command = command,
            Args = args,
            Ports =
            [
                new V1ContainerPort
                {
                    Name = "mcp",
                    ContainerPort = port,
                    Protocol = "TCP",
                },
            ],
            Env = env.Count == 0 ? null : env,
            Resources = new V1ResourceRequirements
            {
                Requests = new Dictionary<string, ResourceQuantity>
                {
                    ["cpu"] = new ResourceQuantity(resources.CpuRequest),
                    ["memory"] = new ResourceQuantity(resources.MemoryRequest),
                },
                Limits = new Dictionary<string, ResourceQuantity>
                {
                    ["cpu"] = new ResourceQuantity(resources.CpuLimit),
                    ["memory"] = new ResourceQuantity(resources.MemoryLimit),
                },
            },
            SecurityContext = new V1SecurityContext
            {
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                RunAsNonRoot = true,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            VolumeMounts = [new V1VolumeMount { Name = "tmp", MountPath = "/tmp" }],
            // The bridge answers /readyz once its server has answered initialize; an image is only known to listen.
            ReadinessProbe = bridged
                ? new V1Probe
                {
                    HttpGet = new V1HTTPGetAction { Path = "/readyz", Port = port },
                    PeriodSeconds = 5,
                }
                : new V1Probe
                {
                    TcpSocket = new V1TCPSocketAction { Port = port },
                    PeriodSeconds = 5,
                },
            LivenessProbe = bridged
                ? new V1Probe
                {
                    HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = port },
                    PeriodSeconds = 10,
                    FailureThreshold = 3,
                }
                : null,
        };
        var podLabels = new Dictionary<string, string>(labels);
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Metadata(workload, options, name, labels),
            Spec = new V1DeploymentSpec
            {
                Replicas = settings.Replicas,
                Selector = new V1LabelSelector { MatchLabels = selector },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = podLabels },
                    Spec = new V1PodSpec
                    {
                        AutomountServiceAccountToken = false,
                        EnableServiceLinks = false,
                        SecurityContext = new V1PodSecurityContext
                        {
                            RunAsNonRoot = true,
                            RunAsUser = NonRootUser,
                            RunAsGroup = NonRootUser,
                            FsGroup = NonRootUser,
                            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                        },
                        Containers = [container],
                        Volumes =
                        [
                            new V1Volume
                            {
                                Name = "tmp",
                                EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity(TmpSizeLimit) },
                            },
                        ],
                    },
                },
            },
        };
    }

    private static V1Service BuildService(
        KubernetesWorkload workload,
        KubernetesOptions options,
        string name,
        Dictionary<string, string> labels,
        Dictionary<string, string> selector
    ) =>
        new()
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = Metadata(workload, options, name, labels),
            Spec = new V1ServiceSpec
            {
                Type = "ClusterIP",
                Selector = new Dictionary<string, string>(selector),
                Ports =
                [
                    new V1ServicePort
                    {
                        Name = "mcp",
                        Port = workload.Settings.Port,
                        TargetPort = workload.Settings.Port,
                        Protocol = "TCP",
                    },
                ],
            },
        };

    private static V1Secret BuildSecret(KubernetesWorkload workload, KubernetesOptions options, string name, Dictionary<string, string> labels) =>
        new()
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "Opaque",
            Metadata = Metadata(workload, options, name, labels),
            Data = workload.Env.OrderBy(static p => p.Key, StringComparer.Ordinal).ToDictionary(static p => p.Key, static p => Encoding.UTF8.GetBytes(p.Value)),
        };

    private static V1NetworkPolicy BuildNetworkPolicy(
        KubernetesWorkload workload,
        KubernetesOptions options,
        string name,
        Dictionary<string, string> labels,
        Dictionary<string, string> selector
    )
    {
        var egress = workload.Settings.Egress;
        List<V1NetworkPolicyEgressRule>? rules = egress.Mode switch
        {
            // One rule with no peers and no ports matches every destination.
            KubernetesEgressMode.All => [new V1NetworkPolicyEgressRule()],
            KubernetesEgressMode.Rules => [Dns(), .. egress.Rules.Select(Rule)],
            _ => null,
        };
        return new V1NetworkPolicy
        {
            ApiVersion = "networking.k8s.io/v1",
            Kind = "NetworkPolicy",
            Metadata = Metadata(workload, options, name, labels),
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(selector) },
                PolicyTypes = ["Ingress", "Egress"],
                Ingress =
                [
                    new V1NetworkPolicyIngressRule
                    {
                        FromProperty =
                        [
                            new V1NetworkPolicyPeer
                            {
                                PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(options.GatewayLabels) },
                            },
                        ],
                        Ports = [new V1NetworkPolicyPort { Port = workload.Settings.Port, Protocol = "TCP" }],
                    },
                ],
                Egress = rules,
            },
        };

        static V1NetworkPolicyEgressRule Dns() =>
            new()
            {
                To =
                [
                    new V1NetworkPolicyPeer
                    {
                        NamespaceSelector = new V1LabelSelector
                        {
                            MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "kube-system" },
                        },
                    },
                ],
                Ports = [new V1NetworkPolicyPort { Port = 53, Protocol = "UDP" }, new V1NetworkPolicyPort { Port = 53, Protocol = "TCP" }],
            };

        static V1NetworkPolicyEgressRule Rule(KubernetesEgressRule rule) =>
            new()
            {
                To = [new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = rule.Cidr } }],
                Ports = rule.Ports.Count == 0 ? null : [.. rule.Ports.Select(static p => new V1NetworkPolicyPort { Port = p, Protocol = "TCP" })],
            };
    }

    private static void Stamp(V1ObjectMeta metadata, string hash) => metadata.Annotations[KubernetesNames.SpecHashAnnotation] = hash;

    /// <summary>SHA-256 of the object's JSON as generated (before the hash annotation is added).</summary>
    public static string SpecHash<T>(T value) => HashOf(KubernetesJson.Serialize(value));

    private static string HashOf(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
