using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Runtime.Kubernetes;
using k8s;

namespace Archestra.Gateway.Admin;

/// <summary>
/// The Kubernetes runtime in <c>/api/mcp-servers</c>: a file server's settings as the file spells them, the cluster's
/// view in status, the pod log API behind logs, and a rollout restart behind restart.
/// </summary>
internal sealed partial class AdminHandlers
{
    /// <summary>A stored log line's longest kept part, as for a local server's stderr (16 KiB, StdioUpstreamOptions).</summary>
    private const int MaxPodLogLine = 16 * 1024;

    /// <summary>A server on the Kubernetes runtime by name, with the runtime; null for any other server.</summary>
    private (McpServerConfig Server, Kubernetes.KubernetesRuntime Runtime)? OnKubernetes(string name) =>
        _context.Server.Kubernetes is { } runtime && Gateway.Config.McpServers.FirstOrDefault(s => s.Name == name && s.Kubernetes is not null) is { } server
            ? (server, runtime)
            : null;

    /// <summary>The cluster's side of a server's status: its pods, its address, and what prevents it from running.</summary>
    private KubernetesStatusBody? KubernetesStatus(string name) =>
        OnKubernetes(name) is not var (server, runtime) || runtime.View(server) is not { } view
            ? null
            : new KubernetesStatusBody(
                KubernetesNames.ObjectName(name),
                view.Address.ToString(),
                view.Status?.Replicas ?? server.Kubernetes!.Replicas,
                view.Status?.ReadyReplicas ?? 0,
                view.Status?.Restarts ?? 0,
                view.Status?.DeploymentExists ?? false,
                view.Status?.LastFailure,
                view.RuntimeFailure?.Message,
                view.Reconciler
            );

    /// <summary>The server's pod log through the API (<c>pods/log</c>): the last lines, or a stream of new ones (SSE).</summary>
    private async Task<AdminResult> KubernetesLogsAsync(HttpContext http, string name, Kubernetes.KubernetesRuntime runtime, int lines, bool follow)
    {
        if (runtime.Cluster is not { } cluster)
        {
            return AdminResult.Problem(StatusCodes.Status503ServiceUnavailable, "the Kubernetes runtime is not connected to the API server yet");
        }

        var ct = http.RequestAborted;
        var ns = cluster.Namespace;
        var selector = $"{KubernetesNames.ServerLabel}={KubernetesNames.ObjectName(name)}";
        var pods = await cluster
            .CallAsync("list", "pods", (k, c) => k.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: c), ct)
            .ConfigureAwait(false);
        if (pods.Failure is { } failure)
        {
            return AdminResult.Problem(StatusCodes.Status502BadGateway, failure.Message);
        }

        var pod = pods.Value!.Items.OrderBy(p => p.Status?.Phase == "Running" ? 0 : 1).FirstOrDefault();
        if (pod is null)
        {
            return AdminResult.Conflict($"MCP server '{name}' has no pod in namespace '{ns}' yet");
        }

        var podName = pod.Metadata.Name;
        var stream = await cluster
            .CallAsync(
                "get",
                "pods/log",
                (k, c) =>
                    k.CoreV1.ReadNamespacedPodLogAsync(
                        podName,
                        ns,
                        container: KubernetesManifests.ContainerName,
                        follow: follow,
                        tailLines: lines,
                        limitBytes: follow ? null : 4 * 1024 * 1024,
                        cancellationToken: c
                    ),
                ct
            )
            .ConfigureAwait(false);
        if (stream.Failure is { } logFailure)
        {
            return AdminResult.Problem(StatusCodes.Status502BadGateway, logFailure.Message);
        }

        await using var body = stream.Value!;
        using var reader = new StreamReader(body, Encoding.UTF8);
        if (!follow)
        {
            var collected = new List<string>();
            while (await ReadBoundedLineAsync(reader, ct).ConfigureAwait(false) is { } line)
            {
                collected.Add(line);
            }

            return AdminResult.Ok(
                new ServerLogBody(name, collected.Skip(Math.Max(0, collected.Count - lines)).ToList(), podName),
                AdminJson.Default.ServerLogBody
            );
        }

        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.StartAsync(ct).ConfigureAwait(false);
        try
        {
            while (await ReadBoundedLineAsync(reader, ct).ConfigureAwait(false) is { } line)
            {
                await WriteEventsAsync(http, [line], ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // The client left, or the API server ended the stream (the pod went away).
        }

        return AdminResult.Written;
    }

    /// <summary>A line of at most <see cref="MaxPodLogLine"/> characters (the rest of a longer one is skipped); null at the end.</summary>
    private static async Task<string?> ReadBoundedLineAsync(StreamReader reader, CancellationToken ct)
    {
        var line = new StringBuilder();
        var buffer = new char[1];
        var any = false;
        while (await reader.ReadAsync(buffer, ct).ConfigureAwait(false) == 1)
        {
            any = true;
            if (buffer[0] == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            if (line.Length < MaxPodLogLine)
            {
                line.Append(buffer[0]);
            }
        }

        return any ? line.ToString() : null;
    }

    /// <summary>A rollout restart: the pod template's restartedAt annotation, as <c>kubectl rollout restart</c> sets it.</summary>
    private async Task<AdminResult> KubernetesRestartAsync(HttpContext http, string name, Kubernetes.KubernetesRuntime runtime)
    {
        if (runtime.Reconciler is not { } reconciler)
        {
            return AdminResult.Problem(StatusCodes.Status503ServiceUnavailable, "the Kubernetes runtime is not connected to the API server yet");
        }

        var restarted = await reconciler.RestartAsync(KubernetesNames.ObjectName(name), http.RequestAborted).ConfigureAwait(false);
        return restarted.Failure is { } failure ? AdminResult.Problem(StatusCodes.Status502BadGateway, failure.Message) : Status(http);
    }

    /// <param name="image">The server when it is an image (no command): its container args and env are written here.</param>
    private static void WriteKubernetesSettings(Utf8JsonWriter w, KubernetesServerSettings settings, McpServerConfig? image)
    {
        w.WriteString("runtime"u8, "kubernetes");
        if (image is not null)
        {
            w.WriteStartArray("args"u8);
            foreach (var arg in image.Args)
            {
                w.WriteStringValue(arg);
            }

            w.WriteEndArray();
            WriteRedacted(w, "env", image.Env);
        }

        if (settings.Image is { } name)
        {
            w.WriteString("image"u8, name);
        }

        w.WriteNumber("port"u8, settings.Port);
        w.WriteString("path"u8, settings.Path);
        w.WriteNumber("replicas"u8, settings.Replicas);
        if (settings.Resources is { } resources)
        {
            w.WriteStartObject("resources"u8);
            w.WriteStartObject("requests"u8);
            w.WriteString("cpu"u8, resources.CpuRequest);
            w.WriteString("memory"u8, resources.MemoryRequest);
            w.WriteEndObject();
            w.WriteStartObject("limits"u8);
            w.WriteString("cpu"u8, resources.CpuLimit);
            w.WriteString("memory"u8, resources.MemoryLimit);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        switch (settings.Egress.Mode)
        {
            case KubernetesEgressMode.None:
                w.WriteString("egress"u8, "none");
                break;
            case KubernetesEgressMode.All:
                w.WriteString("egress"u8, "all");
                break;
            default:
                w.WriteStartArray("egress"u8);
                foreach (var rule in settings.Egress.Rules)
                {
                    w.WriteStartObject();
                    w.WriteString("cidr"u8, rule.Cidr);
                    w.WriteStartArray("ports"u8);
                    foreach (var port in rule.Ports)
                    {
                        w.WriteNumberValue(port);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                break;
        }
    }
}
