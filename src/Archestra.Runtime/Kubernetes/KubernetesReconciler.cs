using System.Globalization;
using k8s;
using k8s.Models;

namespace Archestra.Runtime.Kubernetes;

/// <summary>What one reconcile pass did, and what failed (the pass goes on after a failure; the next one retries).</summary>
public sealed class KubernetesReconcileReport
{
    public List<string> Changes { get; } = [];

    public List<KubernetesFailure> Failures { get; } = [];
}

/// <summary>
/// One pass of desired (the configured servers) against actual (the objects labelled managed-by=archestra): creates
/// what is missing, replaces what differs (a new spec hash, or a hand edit), deletes what no server owns any more.
/// Writes are ordered so a pod never starts without its Secret and NetworkPolicy, and stops before they go.
/// </summary>
public sealed class KubernetesReconciler
{
    private readonly KubernetesCluster _cluster;
    private readonly KubernetesOptions _options;

    public KubernetesReconciler(KubernetesCluster cluster, KubernetesOptions options)
    {
        _cluster = cluster;
        _options = options;
    }

    public async Task<KubernetesReconcileReport> ReconcileAsync(IReadOnlyList<KubernetesWorkload> workloads, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workloads);
        var report = new KubernetesReconcileReport();
        var manifests = workloads.Select(w => KubernetesManifests.Build(w, _options)).ToList();
        var ns = _cluster.Namespace;
        const string selector = KubernetesNames.ManagedBySelector;

        var secrets = await ListAsync(
                "secrets",
                (k, ct) => k.CoreV1.ListNamespacedSecretAsync(ns, labelSelector: selector, cancellationToken: ct),
                l => l.Items,
                report,
                cancellationToken
            )
            .ConfigureAwait(false);
        var policies = await ListAsync(
                "networkpolicies.networking.k8s.io",
                (k, ct) => k.NetworkingV1.ListNamespacedNetworkPolicyAsync(ns, labelSelector: selector, cancellationToken: ct),
                l => l.Items,
                report,
                cancellationToken
            )
            .ConfigureAwait(false);
        var services = await ListAsync(
                "services",
                (k, ct) => k.CoreV1.ListNamespacedServiceAsync(ns, labelSelector: selector, cancellationToken: ct),
                l => l.Items,
                report,
                cancellationToken
            )
            .ConfigureAwait(false);
        var deployments = await ListAsync(
                "deployments.apps",
                (k, ct) => k.AppsV1.ListNamespacedDeploymentAsync(ns, labelSelector: selector, cancellationToken: ct),
                l => l.Items,
                report,
                cancellationToken
            )
            .ConfigureAwait(false);
        if (secrets is null || policies is null || services is null || deployments is null)
        {
            return report;
        }

        var secretChanged = new List<string>();
        await ApplyAsync(s_secrets, manifests.Where(m => m.Secret is not null).Select(m => m.Secret!), secrets, report, secretChanged, cancellationToken)
            .ConfigureAwait(false);
        await ApplyAsync(s_policies, manifests.Select(m => m.NetworkPolicy), policies, report, null, cancellationToken).ConfigureAwait(false);
        await ApplyAsync(s_services, manifests.Select(m => m.Service), services, report, null, cancellationToken).ConfigureAwait(false);
        await ApplyAsync(s_deployments, manifests.Select(m => m.Deployment), deployments, report, null, cancellationToken).ConfigureAwait(false);

        // Pods read a Secret's values when they start: a changed Secret needs new pods.
        foreach (var name in secretChanged)
        {
            if (deployments.Any(d => d.Metadata.Name == name))
            {
                var restarted = await RestartAsync(name, cancellationToken).ConfigureAwait(false);
                Record(report, restarted.Failure, $"restarted Deployment {name} for its changed Secret");
            }
        }

        // Orphans: the Deployment first, so no pod runs without its Secret or NetworkPolicy.
        await DeleteOrphansAsync(s_deployments, deployments, manifests.Select(m => m.ObjectName), report, cancellationToken).ConfigureAwait(false);
        await DeleteOrphansAsync(s_services, services, manifests.Select(m => m.ObjectName), report, cancellationToken).ConfigureAwait(false);
        await DeleteOrphansAsync(s_policies, policies, manifests.Select(m => m.ObjectName), report, cancellationToken).ConfigureAwait(false);
        await DeleteOrphansAsync(s_secrets, secrets, manifests.Where(m => m.Secret is not null).Select(m => m.ObjectName), report, cancellationToken)
            .ConfigureAwait(false);
        return report;
    }

    /// <summary>A rollout restart, as <c>kubectl rollout restart</c>: a new pod template annotation, so the pods are replaced.</summary>
    public Task<KubeResult<V1Deployment>> RestartAsync(string objectName, CancellationToken cancellationToken)
    {
        var at = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var patch = new V1Patch(
            """{"spec":{"template":{"metadata":{"annotations":{""" + $"\"{KubernetesNames.RestartedAtAnnotation}\":\"{at}\"" + "}}}}}",
            V1Patch.PatchType.MergePatch
        );
        var ns = _cluster.Namespace;
        return _cluster.CallAsync(
            "patch",
            "deployments.apps",
            (k, ct) => k.AppsV1.PatchNamespacedDeploymentAsync(patch, objectName, ns, cancellationToken: ct),
            cancellationToken
        );
    }

    private async Task<IList<T>?> ListAsync<TList, T>(
        string resource,
        Func<IKubernetes, CancellationToken, Task<TList>> list,
        Func<TList, IList<T>> items,
        KubernetesReconcileReport report,
        CancellationToken cancellationToken
    )
    {
        var result = await _cluster.CallAsync("list", resource, list, cancellationToken).ConfigureAwait(false);
        if (result.Failure is { } failure)
        {
            report.Failures.Add(failure);
            return null;
        }

        return items(result.Value!) ?? [];
    }

    private async Task ApplyAsync<T>(
        Kind<T> kind,
        IEnumerable<T> desired,
        IList<T> actual,
        KubernetesReconcileReport report,
        List<string>? replaced,
        CancellationToken cancellationToken
    )
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var ns = _cluster.Namespace;
        foreach (var want in desired)
        {
            var name = want.Metadata.Name;
            var have = actual.FirstOrDefault(a => a.Metadata.Name == name);
            if (have is null)
            {
                var created = await _cluster
                    .CallAsync("create", kind.Resource, (k, ct) => kind.Create(k, want, ns, ct), cancellationToken)
                    .ConfigureAwait(false);
                Record(report, created.Failure, $"created {want.Kind} {name}");
                continue;
            }

            if (kind.InSync(want, have))
            {
                continue;
            }

            want.Metadata.ResourceVersion = have.Metadata.ResourceVersion;
            kind.Carry?.Invoke(have, want);
            var written = await _cluster
                .CallAsync("update", kind.Resource, (k, ct) => kind.Replace(k, want, name, ns, ct), cancellationToken)
                .ConfigureAwait(false);
            Record(report, written.Failure, $"updated {want.Kind} {name}");
            if (written.Succeeded)
            {
                replaced?.Add(name);
            }
        }
    }

    private async Task DeleteOrphansAsync<T>(
        Kind<T> kind,
        IList<T> actual,
        IEnumerable<string> wanted,
        KubernetesReconcileReport report,
        CancellationToken cancellationToken
    )
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var keep = wanted.ToHashSet(StringComparer.Ordinal);
        var ns = _cluster.Namespace;
        foreach (var orphan in actual.Where(a => !keep.Contains(a.Metadata.Name)))
        {
            var name = orphan.Metadata.Name;
            var deleted = await _cluster.CallAsync("delete", kind.Resource, (k, ct) => kind.Delete(k, name, ns, ct), cancellationToken).ConfigureAwait(false);
            Record(report, deleted.Failure is { Kind: KubernetesFailureKind.NotFound } ? null : deleted.Failure, $"deleted {kind.Name} {name}");
        }
    }

    private static void Record(KubernetesReconcileReport report, KubernetesFailure? failure, string change)
    {
        if (failure is null)
        {
            report.Changes.Add(change);
        }
        else if (failure.Kind != KubernetesFailureKind.Conflict)
        {
            // A conflict means someone wrote first; the next pass works from their version.
            report.Failures.Add(failure);
        }
    }

    /// <summary>The calls for one kind of object (the generated client has one method per kind and verb).</summary>
    private sealed record Kind<T>(
        string Name,
        string Resource,
        Func<IKubernetes, T, string, CancellationToken, Task> Create,
        Func<IKubernetes, T, string, string, CancellationToken, Task> Replace,
        Func<IKubernetes, string, string, CancellationToken, Task> Delete,
        Func<T, T, bool> InSync,
        Action<T, T>? Carry = null
    );

    private static readonly Kind<V1Secret> s_secrets = new(
        "Secret",
        "secrets",
        (k, o, ns, ct) => k.CoreV1.CreateNamespacedSecretAsync(o, ns, cancellationToken: ct),
        (k, o, name, ns, ct) => k.CoreV1.ReplaceNamespacedSecretAsync(o, name, ns, cancellationToken: ct),
        (k, name, ns, ct) => k.CoreV1.DeleteNamespacedSecretAsync(name, ns, cancellationToken: ct),
        KubernetesDrift.InSync
    );

    private static readonly Kind<V1NetworkPolicy> s_policies = new(
        "NetworkPolicy",
        "networkpolicies.networking.k8s.io",
        (k, o, ns, ct) => k.NetworkingV1.CreateNamespacedNetworkPolicyAsync(o, ns, cancellationToken: ct),
        (k, o, name, ns, ct) => k.NetworkingV1.ReplaceNamespacedNetworkPolicyAsync(o, name, ns, cancellationToken: ct),
        (k, name, ns, ct) => k.NetworkingV1.DeleteNamespacedNetworkPolicyAsync(name, ns, cancellationToken: ct),
        KubernetesDrift.InSync
    );

    private static readonly Kind<V1Service> s_services = new(
        "Service",
        "services",
        (k, o, ns, ct) => k.CoreV1.CreateNamespacedServiceAsync(o, ns, cancellationToken: ct),
        (k, o, name, ns, ct) => k.CoreV1.ReplaceNamespacedServiceAsync(o, name, ns, cancellationToken: ct),
        (k, name, ns, ct) => k.CoreV1.DeleteNamespacedServiceAsync(name, ns, cancellationToken: ct),
        KubernetesDrift.InSync,
        // The cluster IP is allocated once and immutable: an update keeps it.
        static (have, want) =>
        {
            want.Spec.ClusterIP = have.Spec?.ClusterIP;
            want.Spec.ClusterIPs = have.Spec?.ClusterIPs;
        }
    );

    private static readonly Kind<V1Deployment> s_deployments = new(
        "Deployment",
        "deployments.apps",
        (k, o, ns, ct) => k.AppsV1.CreateNamespacedDeploymentAsync(o, ns, cancellationToken: ct),
        (k, o, name, ns, ct) => k.AppsV1.ReplaceNamespacedDeploymentAsync(o, name, ns, cancellationToken: ct),
        (k, name, ns, ct) => k.AppsV1.DeleteNamespacedDeploymentAsync(name, ns, propagationPolicy: "Background", cancellationToken: ct),
        KubernetesDrift.InSync,
        // A restart's annotation stays: dropping it would roll the pods once more.
        static (have, want) =>
        {
            if (have.Spec?.Template?.Metadata?.Annotations is { } annotations && annotations.TryGetValue(KubernetesNames.RestartedAtAnnotation, out var at))
            {
                want.Spec.Template.Metadata.Annotations ??= new Dictionary<string, string>();
                want.Spec.Template.Metadata.Annotations[KubernetesNames.RestartedAtAnnotation] = at;
            }
        }
    );
}
