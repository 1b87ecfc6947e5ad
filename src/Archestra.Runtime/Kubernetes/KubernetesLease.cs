using k8s;
using k8s.Models;

namespace Archestra.Runtime.Kubernetes;

/// <summary>
/// A coordination.k8s.io Lease that lets one gateway replica reconcile at a time, as client-go's leader election
/// does: the holder renews it every pass; another replica takes it over once it has not been renewed for its duration.
/// Updates carry the resourceVersion read, so two replicas racing for an expired lease cannot both win (409).
/// </summary>
public sealed class KubernetesLease
{
    public const string Name = "archestra-runtime";

    private const string Resource = "leases.coordination.k8s.io";

    private readonly KubernetesCluster _cluster;
    private readonly TimeSpan _duration;
    private readonly TimeProvider _time;

    public KubernetesLease(KubernetesCluster cluster, string identity, TimeSpan duration, TimeProvider? time = null)
    {
        _cluster = cluster;
        Identity = identity;
        _duration = duration;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>This replica's holder identity (host name and a random suffix, unique per process).</summary>
    public string Identity { get; }

    /// <summary>Who held the lease at the last look; null before the first.</summary>
    public string? Holder { get; private set; }

    /// <summary>Takes or renews the lease: true while this replica holds it.</summary>
    public async Task<KubeResult<bool>> TryAcquireAsync(CancellationToken cancellationToken)
    {
        var ns = _cluster.Namespace;
        var read = await _cluster
            .CallAsync("get", Resource, (k, ct) => k.CoordinationV1.ReadNamespacedLeaseAsync(Name, ns, cancellationToken: ct), cancellationToken)
            .ConfigureAwait(false);
        var now = _time.GetUtcNow().UtcDateTime;
        if (read.Failure is { Kind: KubernetesFailureKind.NotFound })
        {
            var lease = new V1Lease
            {
                ApiVersion = "coordination.k8s.io/v1",
                Kind = "Lease",
                Metadata = new V1ObjectMeta
                {
                    Name = Name,
                    NamespaceProperty = ns,
                    Labels = new Dictionary<string, string> { [KubernetesNames.ManagedByLabel] = KubernetesNames.ManagedByValue },
                },
                Spec = Spec(now, now, 0),
            };
            var created = await _cluster
                .CallAsync("create", Resource, (k, ct) => k.CoordinationV1.CreateNamespacedLeaseAsync(lease, ns, cancellationToken: ct), cancellationToken)
                .ConfigureAwait(false);
            return Outcome(created);
        }

        if (read.Failure is { } failure)
        {
            return new(false, failure);
        }

        var current = read.Value!;
        var spec = current.Spec ?? new V1LeaseSpec();
        Holder = spec.HolderIdentity;
        var mine = spec.HolderIdentity == Identity;
        var renewed = spec.RenewTime ?? spec.AcquireTime ?? DateTime.MinValue;
        var duration = TimeSpan.FromSeconds(spec.LeaseDurationSeconds ?? (int)_duration.TotalSeconds);
        var expired = string.IsNullOrEmpty(spec.HolderIdentity) || now - renewed.ToUniversalTime() > duration;
        if (!mine && !expired)
        {
            return new(false, null);
        }

        current.Spec = mine ? Spec(spec.AcquireTime ?? now, now, spec.LeaseTransitions ?? 0) : Spec(now, now, (spec.LeaseTransitions ?? 0) + 1);
        var replaced = await _cluster
            .CallAsync("update", Resource, (k, ct) => k.CoordinationV1.ReplaceNamespacedLeaseAsync(current, Name, ns, cancellationToken: ct), cancellationToken)
            .ConfigureAwait(false);
        return Outcome(replaced);
    }

    private KubeResult<bool> Outcome(KubeResult<V1Lease> written)
    {
        if (written.Failure is { Kind: KubernetesFailureKind.Conflict })
        {
            // Another replica wrote first: it holds the lease.
            return new(false, null);
        }

        if (written.Failure is { } failure)
        {
            return new(false, failure);
        }

        Holder = Identity;
        return new(true, null);
    }

    private V1LeaseSpec Spec(DateTime acquired, DateTime renewed, int transitions) =>
        new()
        {
            HolderIdentity = Identity,
            LeaseDurationSeconds = (int)_duration.TotalSeconds,
            AcquireTime = acquired,
            RenewTime = renewed,
            LeaseTransitions = transitions,
        };
}
