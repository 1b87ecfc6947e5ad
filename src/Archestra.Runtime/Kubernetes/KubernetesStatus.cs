using System.Globalization;
using k8s;
using k8s.Models;

namespace Archestra.Runtime.Kubernetes;

/// <summary>One server as the cluster runs it.</summary>
/// <param name="ClusterIp">The Service's cluster IP; null until the Service exists.</param>
/// <param name="LastFailure">Why a pod does not run, in words a user can act on; null when nothing is wrong.</param>
public sealed record KubernetesServerStatus(
    string ObjectName,
    bool DeploymentExists,
    int Replicas,
    int ReadyReplicas,
    int Restarts,
    string? LastFailure,
    string? ClusterIp,
    int? ServicePort
);

/// <summary>Reads the managed Deployments, Services and pods (three list calls) into a status per server.</summary>
public static class KubernetesStatusReader
{
    /// <summary>Reasons a container waits that will not go away by themselves.</summary>
    private static readonly string[] s_imageReasons = ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];

    public static async Task<KubeResult<Dictionary<string, KubernetesServerStatus>>> ReadAsync(KubernetesCluster cluster, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var ns = cluster.Namespace;
        const string selector = KubernetesNames.ManagedBySelector;
        var deployments = await cluster
            .CallAsync(
                "list",
                "deployments.apps",
                (k, ct) => k.AppsV1.ListNamespacedDeploymentAsync(ns, labelSelector: selector, cancellationToken: ct),
                cancellationToken
            )
            .ConfigureAwait(false);
        if (deployments.Failure is { } failure)
        {
            return new(null, failure);
        }

        var services = await cluster
            .CallAsync(
                "list",
                "services",
                (k, ct) => k.CoreV1.ListNamespacedServiceAsync(ns, labelSelector: selector, cancellationToken: ct),
                cancellationToken
            )
            .ConfigureAwait(false);
        if (services.Failure is { } serviceFailure)
        {
            return new(null, serviceFailure);
        }

        var pods = await cluster
            .CallAsync("list", "pods", (k, ct) => k.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: ct), cancellationToken)
            .ConfigureAwait(false);
        if (pods.Failure is { } podFailure)
        {
            return new(null, podFailure);
        }

        var result = new Dictionary<string, KubernetesServerStatus>(StringComparer.Ordinal);
        foreach (var service in services.Value!.Items ?? [])
        {
            var name = service.Metadata.Name;
            var ip = service.Spec?.ClusterIP is { Length: > 0 } and not "None" ? service.Spec.ClusterIP : null;
            result[name] = new KubernetesServerStatus(name, false, 0, 0, 0, null, ip, service.Spec?.Ports?.FirstOrDefault()?.Port);
        }

        foreach (var deployment in deployments.Value!.Items ?? [])
        {
            var name = deployment.Metadata.Name;
            var serverPods = (pods.Value!.Items ?? [])
                .Where(p => p.Metadata.Labels?.TryGetValue(KubernetesNames.ServerLabel, out var s) == true && s == name)
                .ToList();
            var restarts = serverPods.Sum(p => p.Status?.ContainerStatuses?.Sum(c => c.RestartCount) ?? 0);
            var existing = result.GetValueOrDefault(name);
            result[name] = new KubernetesServerStatus(
                name,
                true,
                deployment.Spec?.Replicas ?? 1,
                deployment.Status?.ReadyReplicas ?? 0,
                restarts,
                FailureOf(deployment, serverPods),
                existing?.ClusterIp,
                existing?.ServicePort
            );
        }

        return new(result, null);
    }

    /// <summary>The first reason found why the server's pods do not run: the image, a crash loop, the scheduler, the rollout.</summary>
    public static string? FailureOf(V1Deployment deployment, IReadOnlyList<V1Pod> pods)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(pods);
        foreach (var pod in pods)
        {
            foreach (var container in pod.Status?.ContainerStatuses ?? [])
            {
                var waiting = container.State?.Waiting;
                if (waiting is null)
                {
                    continue;
                }

                if (Array.IndexOf(s_imageReasons, waiting.Reason) >= 0)
                {
                    return $"image '{container.Image}' cannot be pulled ({waiting.Reason}): {waiting.Message ?? "no detail"}; "
                        + "check the image name and tag, and the registry's pull secret";
                }

                if (waiting.Reason == "CrashLoopBackOff")
                {
                    var last = container.LastState?.Terminated;
                    var exit = last is null
                        ? ""
                        : $"; last exit code {last.ExitCode.ToString(CultureInfo.InvariantCulture)}" + (last.Reason is { } r ? $" ({r})" : "");
                    return $"crash loop: pod {pod.Metadata.Name} restarted {container.RestartCount.ToString(CultureInfo.InvariantCulture)} times{exit}; "
                        + "see the server's logs";
                }

                if (waiting.Reason is "CreateContainerConfigError" or "CreateContainerError" or "RunContainerError")
                {
                    return $"the container cannot start ({waiting.Reason}): {waiting.Message ?? "no detail"}";
                }
            }

            foreach (var condition in pod.Status?.Conditions ?? [])
            {
                if (condition.Type == "PodScheduled" && condition.Status == "False" && condition.Reason == "Unschedulable")
                {
                    return $"pod {pod.Metadata.Name} cannot be scheduled: {condition.Message}";
                }
            }
        }

        foreach (var condition in deployment.Status?.Conditions ?? [])
        {
            if (condition.Type == "ReplicaFailure" && condition.Status == "True")
            {
                return $"the Deployment cannot create pods ({condition.Reason}): {condition.Message}";
            }

            if (condition.Type == "Progressing" && condition.Status == "False")
            {
                return $"the rollout is stuck ({condition.Reason}): {condition.Message}";
            }
        }

        return null;
    }
}
