using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;
using Archestra.Runtime.Diagnostics;
using Archestra.Runtime.Kubernetes;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Kubernetes;

/// <summary>A server's state on the cluster as <c>/api/mcp-servers/{name}/status</c> answers it.</summary>
internal sealed record KubernetesServerView(KubernetesServerStatus? Status, Uri Address, KubernetesFailure? RuntimeFailure, string? Reconciler);

/// <summary>
/// The gateway's side of the Kubernetes runtime. Every replica reads the servers' Services and pods each pass (for the
/// addresses it connects to and for status); the replica holding the Lease also reconciles the configured servers
/// (file and database) against the cluster. Failures are kept for status, logged when they change, and counted.
/// </summary>
internal sealed class KubernetesRuntime : IPrometheusSource, IAsyncDisposable
{
    private readonly KubernetesOptions _options;
    private readonly McpGateway _gateway;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, long> _failureCounts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _lastReady = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> _lastServerFailure = new(StringComparer.Ordinal);
    private KubernetesCluster? _cluster;
    private KubernetesLease? _lease;
    private KubernetesReconciler? _reconciler;
    private IReadOnlyDictionary<string, KubernetesServerStatus> _statuses = new Dictionary<string, KubernetesServerStatus>();
    private KubernetesFailure? _failure;
    private bool _leading;
    private long _passes;
    private Task? _loop;

    public KubernetesRuntime(KubernetesOptions options, McpGateway gateway, ILogger logger)
    {
        _options = options;
        _gateway = gateway;
        _logger = logger;
        Identity = $"{Environment.MachineName}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";
        gateway.KubernetesAddress = AddressOf;
    }

    /// <summary>This replica's Lease holder identity.</summary>
    public string Identity { get; }

    /// <summary>Completed passes (each a lease attempt, a reconcile when leading, and a status read).</summary>
    public long Passes => Interlocked.Read(ref _passes);

    public bool Leading => Volatile.Read(ref _leading);

    public void Start() => _loop = Task.Run(() => LoopAsync(_stopping.Token));

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ReconcileInterval);
        do
        {
            try
            {
                await RunPassAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // A bug must not stop the loop for good: it is logged and counted, and the next pass starts afresh.
                Fail(new KubernetesFailure(KubernetesFailureKind.ServerError, $"a reconcile pass failed: {ex.GetType().Name}: {ex.Message}"));
            }
        } while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    private async Task RunPassAsync(CancellationToken cancellationToken)
    {
        try
        {
            await PassAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Increment(ref _passes);
        }
    }

    private async Task PassAsync(CancellationToken cancellationToken)
    {
        if (_cluster is null)
        {
            var connected = KubernetesCluster.Connect(_options);
            if (connected.Failure is { } connectFailure)
            {
                Fail(connectFailure);
                return;
            }

            _cluster = connected.Value!;
            _lease = new KubernetesLease(_cluster, Identity, _options.LeaseDuration);
            _reconciler = new KubernetesReconciler(_cluster, _options);
            Log.Started(_logger, _cluster.Namespace, _cluster.Host, Identity);
        }

        var lease = await _lease!.TryAcquireAsync(cancellationToken).ConfigureAwait(false);
        if (lease.Failure is { } leaseFailure)
        {
            Fail(leaseFailure);
            return;
        }

        if (lease.Value && !Leading)
        {
            Log.Leading(_logger, Identity);
        }

        Volatile.Write(ref _leading, lease.Value);
        KubernetesFailure? passFailure = null;
        if (lease.Value)
        {
            var report = await _reconciler!.ReconcileAsync(Workloads(_gateway.Config), cancellationToken).ConfigureAwait(false);
            foreach (var change in report.Changes)
            {
                Log.Changed(_logger, change);
            }

            passFailure = report.Failures.FirstOrDefault();
            foreach (var failure in report.Failures.Skip(1))
            {
                Count(failure);
            }
        }

        var statuses = await KubernetesStatusReader.ReadAsync(_cluster, cancellationToken).ConfigureAwait(false);
        if (statuses.Failure is { } statusFailure)
        {
            Fail(statusFailure);
            return;
        }

        Volatile.Write(ref _statuses, statuses.Value!);
        if (passFailure is not null)
        {
            Fail(passFailure);
        }
        else
        {
            Succeed();
        }

        await FollowAsync(statuses.Value!, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Points each server's connection at its Service once the Service is known (or when its address changed), and
    /// reconnects at once when pods become ready instead of waiting out the connection's backoff.
    /// </summary>
    private async Task FollowAsync(Dictionary<string, KubernetesServerStatus> statuses, CancellationToken cancellationToken)
    {
        foreach (var server in _gateway.Config.McpServers)
        {
            if (server.Kubernetes is null || !_gateway.Entries.TryGetValue(server.Name, out var entry))
            {
                continue;
            }

            var objectName = KubernetesNames.ObjectName(server.Name);
            var status = statuses.GetValueOrDefault(objectName);
            var ready = status?.ReadyReplicas ?? 0;
            var becameReady = ready > 0 && _lastReady.GetValueOrDefault(objectName) == 0;
            _lastReady[objectName] = ready;
            if (status?.LastFailure != _lastServerFailure.GetValueOrDefault(objectName))
            {
                _lastServerFailure[objectName] = status?.LastFailure;
                if (status?.LastFailure is { } why)
                {
                    Log.ServerFailing(_logger, server.Name, why);
                }
            }

            var address = AddressOf(server);
            var moved = entry.Upstream.Options is HttpUpstreamOptions http && http.Url != address;
            if (moved)
            {
                Log.Address(_logger, server.Name, address);
            }

            if (moved || (becameReady && entry.Upstream.State != UpstreamState.Ready))
            {
                await _gateway.RestartServerAsync(server.Name, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The Service's cluster IP and port once read from the API; until then its cluster DNS name.</summary>
    private Uri AddressOf(McpServerConfig server)
    {
        var settings = server.Kubernetes!;
        if (Volatile.Read(ref _statuses).GetValueOrDefault(KubernetesNames.ObjectName(server.Name)) is { ClusterIp: { } ip, ServicePort: { } port })
        {
            var host = ip.Contains(':', StringComparison.Ordinal) ? $"[{ip}]" : ip;
            return new Uri($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}{settings.Path}");
        }

        return McpGateway.ServiceDnsAddress(server, _options.Namespace);
    }

    /// <summary>The cluster's view of one configured server; null for a server not on Kubernetes.</summary>
    public KubernetesServerView? View(McpServerConfig server)
    {
        if (server.Kubernetes is null)
        {
            return null;
        }

        var status = Volatile.Read(ref _statuses).GetValueOrDefault(KubernetesNames.ObjectName(server.Name));
        return new KubernetesServerView(status, AddressOf(server), Volatile.Read(ref _failure), _lease?.Holder);
    }

    /// <summary>The workloads of the servers on Kubernetes, in configuration order.</summary>
    internal static List<KubernetesWorkload> Workloads(GatewayConfig config) =>
        config
            .McpServers.Where(static s => s.Kubernetes is not null)
            .Select(static s => new KubernetesWorkload
            {
                Name = s.Name,
                Command = s.Command,
                Args = s.Args,
                Env = s.Env,
                Settings = s.Kubernetes!,
            })
            .ToList();

    public KubernetesCluster? Cluster => _cluster;

    public KubernetesReconciler? Reconciler => _reconciler;

    private void Fail(KubernetesFailure failure)
    {
        Count(failure);
        var previous = Interlocked.Exchange(ref _failure, failure);
        if (previous?.Message != failure.Message)
        {
            Log.Failed(_logger, failure.Message);
        }
    }

    private void Count(KubernetesFailure failure) => _failureCounts.AddOrUpdate(failure.KindName, 1, static (_, n) => n + 1);

    private void Succeed()
    {
        if (Interlocked.Exchange(ref _failure, null) is not null)
        {
            Log.Recovered(_logger);
        }
    }

    public void WritePrometheus(StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        const string failures = "archestra_kubernetes_failures_total";
        PrometheusText.Family(builder, failures, "Failed Kubernetes API calls and passes, by kind (unreachable, forbidden, ...).", "counter");
        foreach (var pair in _failureCounts.OrderBy(static p => p.Key, StringComparer.Ordinal))
        {
            PrometheusText.Sample(builder, failures, $"{{kind=\"{pair.Key}\"}}", pair.Value);
        }

        PrometheusText.Family(builder, "archestra_kubernetes_api_up", "1 when the last pass reached the Kubernetes API server, else 0.", "gauge");
        PrometheusText.Sample(builder, "archestra_kubernetes_api_up", "", Volatile.Read(ref _failure) is null && _cluster is not null ? 1 : 0);
        PrometheusText.Family(builder, "archestra_kubernetes_leader", "1 when this replica holds the Lease and reconciles.", "gauge");
        PrometheusText.Sample(builder, "archestra_kubernetes_leader", "", Leading ? 1 : 0);

        const string ready = "archestra_kubernetes_ready_replicas";
        const string restarts = "archestra_kubernetes_restarts";
        const string failing = "archestra_kubernetes_server_failing";
        var servers = _gateway.Config.McpServers.Where(static s => s.Kubernetes is not null).ToList();
        var statuses = Volatile.Read(ref _statuses);
        PrometheusText.Family(builder, ready, "Ready pods of an MCP server on Kubernetes.", "gauge");
        foreach (var server in servers)
        {
            PrometheusText.Sample(builder, ready, Label(server), statuses.GetValueOrDefault(KubernetesNames.ObjectName(server.Name))?.ReadyReplicas ?? 0);
        }

        PrometheusText.Family(builder, restarts, "Container restarts of an MCP server's pods on Kubernetes.", "gauge");
        foreach (var server in servers)
        {
            PrometheusText.Sample(builder, restarts, Label(server), statuses.GetValueOrDefault(KubernetesNames.ObjectName(server.Name))?.Restarts ?? 0);
        }

        PrometheusText.Family(builder, failing, "1 when an MCP server's pods cannot run (image pull, crash loop, scheduling), else 0.", "gauge");
        foreach (var server in servers)
        {
            var status = statuses.GetValueOrDefault(KubernetesNames.ObjectName(server.Name));
            PrometheusText.Sample(builder, failing, Label(server), status?.LastFailure is null ? 0 : 1);
        }

        // Server names are [A-Za-z0-9_-]: nothing to escape in a label value.
        static string Label(McpServerConfig server) => $"{{server=\"{server.Name}\"}}";
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }

        _stopping.Dispose();
        _cluster?.Dispose();
    }
}
