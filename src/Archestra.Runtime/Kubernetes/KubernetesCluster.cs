using k8s;

namespace Archestra.Runtime.Kubernetes;

/// <summary>The result of one Kubernetes call: its value, or why it failed.</summary>
public readonly record struct KubeResult<T>(T? Value, KubernetesFailure? Failure)
{
    public bool Succeeded => Failure is null;
}

/// <summary>
/// The API server in one namespace, through KubernetesClient.Aot. Every call goes through <see cref="CallAsync"/>, which
/// turns the client's exceptions into <see cref="KubernetesFailure"/> values naming the verb and resource.
/// </summary>
public sealed class KubernetesCluster : IDisposable
{
    /// <summary>10 s per call: a reconcile pass must not hang on an API server that accepts connections and never answers.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    private KubernetesCluster(IKubernetes client, string ns, string host)
    {
        Client = client;
        Namespace = ns;
        Host = host;
    }

    public IKubernetes Client { get; }

    public string Namespace { get; }

    /// <summary>The API server's address, for messages.</summary>
    public string Host { get; }

    /// <summary>The client <paramref name="options"/> describe: the pod's service account, or a kubeconfig file.</summary>
    public static KubeResult<KubernetesCluster> Connect(KubernetesOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        KubernetesClientConfiguration config;
        try
        {
            config = options.InCluster
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig, options.Context);
        }
        catch (Exception ex) when (ex is k8s.Exceptions.KubeConfigException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            var where = options.InCluster ? "the in-cluster service account" : $"kubeconfig '{options.Kubeconfig ?? "~/.kube/config"}'";
            return new(null, new KubernetesFailure(KubernetesFailureKind.Unreachable, $"cannot use {where}: {ex.Message}"));
        }

        config.HttpClientTimeout = CallTimeout;
        return new(new KubernetesCluster(new k8s.Kubernetes(config), options.Namespace, config.Host), null);
    }

    /// <summary>Runs one call; an expected failure is returned, never thrown.</summary>
    public async Task<KubeResult<T>> CallAsync<T>(
        string verb,
        string resource,
        Func<IKubernetes, CancellationToken, Task<T>> call,
        CancellationToken cancellationToken
    )
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return new(await call(Client, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && KubernetesFailure.From(ex, verb, resource, Namespace, Host) is { } failure)
        {
            return new(default, failure);
        }
    }

    /// <summary>A call whose answer is not needed.</summary>
    public Task<KubeResult<bool>> CallAsync(string verb, string resource, Func<IKubernetes, CancellationToken, Task> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        return CallAsync(
            verb,
            resource,
            async (k, ct) =>
            {
                await call(k, ct).ConfigureAwait(false);
                return true;
            },
            cancellationToken
        );
    }

    public void Dispose() => Client.Dispose();
}
