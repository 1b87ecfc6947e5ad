using System.Text.Json;
using Archestra.Runtime.Kubernetes;

namespace Archestra.Gateway.Configuration;

/// <summary>The top-level <c>kubernetes</c> section and a server's <c>"runtime": "kubernetes"</c> settings.</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_kubernetesKeys =
    [
        "namespace",
        "inCluster",
        "kubeconfig",
        "context",
        "image",
        "resources",
        "labels",
        "gatewayLabels",
        "reconcileIntervalSeconds",
        "leaseDurationSeconds",
    ];
    private static readonly string[] s_resourcesKeys = ["requests", "limits"];
    private static readonly string[] s_quantityKeys = ["cpu", "memory"];
    private static readonly string[] s_egressRuleKeys = ["cidr", "ports"];

    /// <summary>Whether the configuration has a <c>kubernetes</c> section, which servers on that runtime need.</summary>
    public bool KubernetesConfigured { get; set; }

    private KubernetesOptions? ReadKubernetes(JsonElement element, string path)
    {
        KubernetesConfigured = true;
        var options = new KubernetesOptions();
        if (!ExpectObject(element, path))
        {
            return options;
        }

        string? kubeconfigPath = null;
        foreach (var property in KnownProperties(element, path, s_kubernetesKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "namespace":
                    if (ReadKubernetesName(property.Value, itemPath, "a namespace") is { } ns)
                    {
                        options = options with { Namespace = ns };
                    }

                    break;
                case "inCluster":
                    if (property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                    {
                        options = options with { InCluster = property.Value.GetBoolean() };
                    }
                    else
                    {
                        ExpectedKind(itemPath, "true or false", property.Value);
                    }

                    break;
                case "kubeconfig":
                    kubeconfigPath = itemPath;
                    if (TryReadString(property.Value, itemPath, out var file) && file.Value.Length > 0)
                    {
                        options = options with { Kubeconfig = file.Value };
                    }
                    else if (file.Value is { Length: 0 })
                    {
                        Error(itemPath, "expected the path of a kubeconfig file");
                    }

                    break;
                case "context":
                    if (TryReadString(property.Value, itemPath, out var context) && context.Value.Length > 0)
                    {
                        options = options with { Context = context.Value };
                    }

                    break;
                case "image":
                    if (ReadImage(property.Value, itemPath) is { } image)
                    {
                        options = options with { Image = image };
                    }

                    break;
                case "resources":
                    options = options with { Resources = ReadResources(property.Value, itemPath, KubernetesResources.Default) };
                    break;
                case "labels":
                case "gatewayLabels":
                    var labels = ReadStringMap(
                        property.Value,
                        itemPath,
                        StringComparer.Ordinal,
                        KubernetesNames.IsLabelKey,
                        "a label key such as team or example.com/team",
                        KubernetesNames.IsLabelValue,
                        "a label value: at most 63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit"
                    );
                    options = property.Name == "labels" ? options with { Labels = labels } : options with { GatewayLabels = labels };
                    if (property.Name == "gatewayLabels" && labels.Count == 0)
                    {
                        Error(itemPath, "expected at least one label: without one the NetworkPolicy would admit every pod in the namespace");
                    }

                    break;
                case "reconcileIntervalSeconds":
                    if (TryReadInteger(property.Value, itemPath, 1, 3600, out var interval))
                    {
                        options = options with { ReconcileInterval = TimeSpan.FromSeconds(interval) };
                    }

                    break;
                case "leaseDurationSeconds":
                    if (TryReadInteger(property.Value, itemPath, 2, 3600, out var lease))
                    {
                        options = options with { LeaseDuration = TimeSpan.FromSeconds(lease) };
                    }

                    break;
            }
        }

        if (options.InCluster && kubeconfigPath is not null)
        {
            Error(kubeconfigPath, "inCluster is true: the service account is used, so a kubeconfig is not; remove one of them");
        }

        if (options.LeaseDuration <= options.ReconcileInterval)
        {
            Error(
                Child(path, "leaseDurationSeconds"),
                $"the lease ({options.LeaseDuration.TotalSeconds:0} s) must last longer than the reconcile interval "
                    + $"({options.ReconcileInterval.TotalSeconds:0} s), or the holder loses it between two renewals"
            );
        }

        return options;
    }

    /// <summary>
    /// A server's kubernetes keys, after the loop over its properties: <paramref name="keys"/> are those present.
    /// Null (with errors) when they do not fit the runtime.
    /// </summary>
    private KubernetesServerSettings? ReadKubernetesServer(string path, string runtimePath, List<JsonProperty> keys, bool hasCommand, bool hasUrl)
    {
        if (!KubernetesConfigured)
        {
            Error(runtimePath, "runtime 'kubernetes' needs the top-level kubernetes section (namespace, inCluster or kubeconfig, image)");
        }

        if (hasUrl)
        {
            Error(runtimePath, "a server with url already runs elsewhere; runtime 'kubernetes' runs a command (under archestra bridge) or an image");
        }

        var settings = new KubernetesServerSettings();
        var hasImage = false;
        foreach (var property in keys)
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "image":
                    hasImage = true;
                    if (ReadImage(property.Value, itemPath) is { } image)
                    {
                        settings = settings with { Image = image };
                    }

                    break;
                case "port":
                    if (TryReadInteger(property.Value, itemPath, 1, 65535, out var port))
                    {
                        settings = settings with { Port = (int)port };
                    }

                    break;
                case "path":
                    if (TryReadString(property.Value, itemPath, out var endpoint))
                    {
                        if (endpoint.Value.StartsWith('/') && Uri.IsWellFormedUriString(endpoint.Value, UriKind.Relative) && !endpoint.Value.Contains('?'))
                        {
                            settings = settings with { Path = endpoint.Value };
                        }
                        else
                        {
                            Error(itemPath, $"expected an absolute path such as /mcp, got {endpoint.Shown}");
                        }
                    }

                    break;
                case "resources":
                    settings = settings with { Resources = ReadResources(property.Value, itemPath, null) };
                    break;
                case "replicas":
                    // 100: a bound on what one configuration line can ask of the cluster.
                    if (TryReadInteger(property.Value, itemPath, 1, 100, out var replicas))
                    {
                        settings = settings with { Replicas = (int)replicas };
                    }

                    break;
                case "egress":
                    settings = settings with { Egress = ReadEgress(property.Value, itemPath) };
                    break;
            }
        }

        if (!hasCommand && !hasUrl && !hasImage)
        {
            Error(path, "expected command (a stdio server, run under archestra bridge in the kubernetes image) or image (a server that serves MCP on port)");
        }

        return settings;
    }

    /// <summary>A server's env becomes its Secret, whose keys Kubernetes restricts to letters, digits, '-', '_' and '.'.</summary>
    private void CheckSecretKeys(string? envPath, IReadOnlyDictionary<string, string> env)
    {
        foreach (var key in env.Keys)
        {
            if (key.Length > 253 || key.AsSpan().ContainsAnyExcept(s_secretKeyChars))
            {
                Error(Child(envPath!, key), "on runtime 'kubernetes' env names become Secret keys: letters, digits, '-', '_' and '.' only");
            }
        }
    }

    private static readonly System.Buffers.SearchValues<char> s_secretKeyChars = System.Buffers.SearchValues.Create(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
    );

    /// <summary>Reports the kubernetes keys of a server that does not run on Kubernetes.</summary>
    private void RejectKubernetesKeys(string path, List<JsonProperty> keys)
    {
        foreach (var property in keys)
        {
            Error(Child(path, property.Name), $"{property.Name} is only valid with \"runtime\": \"kubernetes\"");
        }
    }

    private string? ReadKubernetesName(JsonElement element, string path, string what)
    {
        if (!TryReadString(element, path, out var text))
        {
            return null;
        }

        if (KubernetesNames.IsDnsLabel(text.Value))
        {
            return text.Value;
        }

        Error(path, $"expected {what}: at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit, got {text.Shown}");
        return null;
    }

    private string? ReadImage(JsonElement element, string path)
    {
        if (!TryReadString(element, path, out var text))
        {
            return null;
        }

        if (KubernetesNames.IsImage(text.Value))
        {
            return text.Value;
        }

        Error(path, $"expected an image reference such as ghcr.io/org/server:1.2.3 (no spaces or control characters), got {text.Shown}");
        return null;
    }

    private KubernetesResources ReadResources(JsonElement element, string path, KubernetesResources? defaults)
    {
        var fallback = defaults ?? KubernetesResources.Default;
        string? cpuRequest = null,
            memoryRequest = null,
            cpuLimit = null,
            memoryLimit = null;
        if (!ExpectObject(element, path))
        {
            return fallback;
        }

        foreach (var group in KnownProperties(element, path, s_resourcesKeys))
        {
            var groupPath = Child(path, group.Name);
            if (!ExpectObject(group.Value, groupPath))
            {
                continue;
            }

            foreach (var item in KnownProperties(group.Value, groupPath, s_quantityKeys))
            {
                var itemPath = Child(groupPath, item.Name);
                if (!TryReadString(item.Value, itemPath, out var text))
                {
                    continue;
                }

                if (!KubernetesNames.IsQuantity(text.Value))
                {
                    Error(itemPath, $"expected a Kubernetes quantity such as {(item.Name == "cpu" ? "250m or 1" : "128Mi or 1Gi")}, got {text.Shown}");
                    continue;
                }

                _ = (group.Name, item.Name) switch
                {
                    ("requests", "cpu") => cpuRequest = text.Value,
                    ("requests", _) => memoryRequest = text.Value,
                    (_, "cpu") => cpuLimit = text.Value,
                    _ => memoryLimit = text.Value,
                };
            }
        }

        return new KubernetesResources(
            cpuRequest ?? fallback.CpuRequest,
            memoryRequest ?? fallback.MemoryRequest,
            cpuLimit ?? fallback.CpuLimit,
            memoryLimit ?? fallback.MemoryLimit
        );
    }

    /// <summary><c>"none"</c>, <c>"all"</c>, or an array of <c>{ "cidr": "10.0.0.0/8", "ports": [443] }</c> (DNS is then allowed too).</summary>
    private KubernetesEgress ReadEgress(JsonElement element, string path)
    {
        const string expected = "\"none\", \"all\" or an array of { \"cidr\": \"10.0.0.0/8\", \"ports\": [443] }";
        if (element.ValueKind == JsonValueKind.String)
        {
            return ReadChoice(element, path, "none", "all") == "all" ? new KubernetesEgress(KubernetesEgressMode.All, []) : KubernetesEgress.None;
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            ExpectedKind(path, expected, element);
            return KubernetesEgress.None;
        }

        var rules = new List<KubernetesEgressRule>();
        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            var itemPath = Index(path, index++);
            if (!ExpectObject(item, itemPath))
            {
                continue;
            }

            string? cidr = null;
            var ports = new List<int>();
            foreach (var property in KnownProperties(item, itemPath, s_egressRuleKeys))
            {
                var keyPath = Child(itemPath, property.Name);
                if (property.Name == "cidr")
                {
                    if (TryReadString(property.Value, keyPath, out var text))
                    {
                        if (System.Net.IPNetwork.TryParse(text.Value, out var network) && network.ToString() == text.Value)
                        {
                            cidr = text.Value;
                        }
                        else
                        {
                            Error(keyPath, $"expected a CIDR block with no host bits set, such as 10.0.0.0/8, got {text.Shown}");
                        }
                    }
                }
                else if (property.Value.ValueKind != JsonValueKind.Array)
                {
                    ExpectedKind(keyPath, "an array of port numbers", property.Value);
                }
                else
                {
                    var portIndex = 0;
                    foreach (var port in property.Value.EnumerateArray())
                    {
                        if (TryReadInteger(port, Index(keyPath, portIndex++), 1, 65535, out var number))
                        {
                            ports.Add((int)number);
                        }
                    }
                }
            }

            if (cidr is null)
            {
                Error(itemPath, "expected cidr: the block of addresses the server may connect to");
                continue;
            }

            rules.Add(new KubernetesEgressRule(cidr, ports));
        }

        return new KubernetesEgress(KubernetesEgressMode.Rules, rules);
    }
}
