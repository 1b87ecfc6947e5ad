using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Archestra.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Tests.Kubernetes;

/// <summary>The fake's kubelet: one local process per Deployment, its pod object, probes, restarts and logs.</summary>
internal sealed partial class FakeKubernetes
{
    private readonly Dictionary<string, Pod> _pods = new(StringComparer.Ordinal);

    private sealed class Pod(string name, string deployment)
    {
        public string Name { get; } = name;
        public string Deployment { get; } = deployment;
        public CancellationTokenSource Stop { get; } = new();
        public ExternalProcess? Process { get; set; }
        public StringBuilder Log { get; } = new();
        public Task? Run { get; set; }
    }

    /// <summary>How many processes the fake has started for a Deployment (restarts included).</summary>
    public int Starts(string deployment)
    {
        using (Enter())
        {
            return _starts.GetValueOrDefault(deployment);
        }
    }

    private readonly Dictionary<string, int> _starts = new(StringComparer.Ordinal);

    /// <summary>Replaces the Deployment's pod with one for its current template (a rollout, simplified to one pod).</summary>
    private void RunDeployment(string deployment)
    {
        var previous = StopPods(deployment);
        var pod = new Pod($"{deployment}-{Guid.NewGuid().ToString("N")[..10]}", deployment);
        using (Enter())
        {
            _pods[pod.Name] = pod;
        }

        // The new container serves the Service's port: it starts once the old one has let go of it, or a probe could reach
        // the old one and call the new pod ready.
        pod.Run = Task.Run(async () =>
        {
            await previous;
            await RunPodAsync(pod);
        });
    }

    /// <summary>Stops the Deployment's pods; the task ends when their containers are gone.</summary>
    private Task StopPods(string deployment)
    {
        List<Pod> stopping;
        using (Enter())
        {
            stopping = _pods.Values.Where(p => p.Deployment == deployment).ToList();
            foreach (var pod in stopping)
            {
                _pods.Remove(pod.Name);
                _objects.Remove(("pods", pod.Name));
            }
        }

        foreach (var pod in stopping)
        {
            pod.Stop.Cancel();
        }

        return Task.WhenAll(stopping.Select(StopPodAsync));
    }

    private static async Task StopPodAsync(Pod pod)
    {
        if (pod.Process is { } process)
        {
            await process.DisposeAsync();
        }

        try
        {
            // The loop disposes a container it started after Process was read above.
            await (pod.Run ?? Task.CompletedTask);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    private async Task StopAllPodsAsync()
    {
        List<Pod> all;
        using (Enter())
        {
            all = [.. _pods.Values];
            _pods.Clear();
        }

        foreach (var pod in all)
        {
            await pod.Stop.CancelAsync();
            await StopPodAsync(pod);
        }
    }

    private async Task RunPodAsync(Pod pod)
    {
        var ct = pod.Stop.Token;
        var restarts = 0;
        while (!ct.IsCancellationRequested)
        {
            var (template, container, image) = ReadTemplate(pod.Deployment);
            if (template is null)
            {
                return;
            }

            var port = container!["ports"]![0]!["containerPort"]!.GetValue<int>();
            var (env, missing) = ResolveEnv(container);
            if (missing is not null)
            {
                SetPod(pod, template, Waiting("CreateContainerConfigError", missing), restarts, ready: false, lastExit: null);
                await Task.Delay(500, ct);
                continue;
            }

            var commandLine = CommandLine(container, image!);
            if (commandLine is null)
            {
                var message = $"rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found";
                SetPod(pod, template, Waiting(restarts++ == 0 ? "ErrImagePull" : "ImagePullBackOff", message), 0, ready: false, lastExit: null);
                await Task.Delay(500, ct);
                continue;
            }

            using (Enter())
            {
                _starts[pod.Deployment] = _starts.GetValueOrDefault(pod.Deployment) + 1;
            }

            // A pod stopped while this loop was between checks must not start a container nobody will stop.
            ct.ThrowIfCancellationRequested();
            var process = ExternalProcess.Start(commandLine[0], commandLine[1..], env);
            pod.Process = process;
            SetPod(pod, template, new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Now() } }, restarts, ready: false, lastExit: null);
            var probe = container["readinessProbe"];
            while (!process.HasExited && !ct.IsCancellationRequested)
            {
                var ready = await ProbeAsync(probe, port, ct);
                SetPod(pod, template, new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Now() } }, restarts, ready, lastExit: null);
                await Task.WhenAny(process.Exited, Task.Delay(200, ct));
            }

            if (ct.IsCancellationRequested)
            {
                // The stopper may have read pod.Process before this container was set there: stop it here too.
                await process.DisposeAsync();
                return;
            }

            // Exited can fire before the redirected output is drained; WaitForExitAsync waits for both pipes' end.
            await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
            lock (pod.Log)
            {
                pod.Log.Append(process.Output);
            }

            restarts++;
            SetPod(pod, template, Waiting("CrashLoopBackOff", "back-off restarting failed container"), restarts, ready: false, lastExit: process.ExitCode);
            await Task.Delay(Math.Min(restarts * 500, 3000), ct);
        }
    }

    private (JsonObject? Template, JsonObject? Container, string? Image) ReadTemplate(string deployment)
    {
        using (Enter())
        {
            if (!_objects.TryGetValue(("deployments", deployment), out var value))
            {
                return (null, null, null);
            }

            var template = (JsonObject)value["spec"]!["template"]!.DeepClone();
            var container = template["spec"]!["containers"]![0]!.AsObject();
            return (template, container, container["image"]!.GetValue<string>());
        }
    }

    private (Dictionary<string, string> Env, string? Missing) ResolveEnv(JsonObject container)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in container["env"]?.AsArray() ?? [])
        {
            var name = item!["name"]!.GetValue<string>();
            if (item["value"] is { } literal)
            {
                env[name] = literal.GetValue<string>();
                continue;
            }

            var reference = item["valueFrom"]!["secretKeyRef"]!;
            var secretName = reference["name"]!.GetValue<string>();
            var key = reference["key"]!.GetValue<string>();
            using (Enter())
            {
                if (_objects.TryGetValue(("secrets", secretName), out var secret) && secret["data"]?[key] is { } data)
                {
                    env[name] = Encoding.UTF8.GetString(Convert.FromBase64String(data.GetValue<string>()));
                }
                else
                {
                    return (env, $"secret \"{secretName}\" not found or has no key \"{key}\"");
                }
            }
        }

        return (env, null);
    }

    /// <summary>The archestra binary is this build's; an image runs only if <see cref="Images"/> maps it.</summary>
    private string[]? CommandLine(JsonObject container, string image)
    {
        var command = container["command"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? [];
        var args = container["args"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? [];
        if (command is ["archestra"])
        {
            // The Service's cluster IP here is 127.0.0.1: the bridge listens there instead of on 0.0.0.0.
            var listen = args.Select(a =>
                a.StartsWith("http://0.0.0.0:", StringComparison.Ordinal) ? a.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal) : a
            );
            return ["dotnet", Path.Combine(AppContext.BaseDirectory, "archestra.dll"), .. listen];
        }

        return Images.TryGetValue(image, out var entrypoint) ? [.. entrypoint, .. command, .. args] : null;
    }

    private static async Task<bool> ProbeAsync(JsonNode? probe, int port, CancellationToken ct)
    {
        try
        {
            if (probe?["httpGet"] is { } get)
            {
                using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                using var response = await client.GetAsync($"http://127.0.0.1:{port}{get["path"]!.GetValue<string>()}", ct);
                return response.IsSuccessStatusCode;
            }

            using var tcp = new TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port, ct);
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or TaskCanceledException)
        {
            return false;
        }
    }

    private static JsonObject Waiting(string reason, string message) =>
        new()
        {
            ["waiting"] = new JsonObject { ["reason"] = reason, ["message"] = message },
        };

    private static string Now() => DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>Writes the pod object and the Deployment's status as the kubelet and the controller would.</summary>
    private void SetPod(Pod pod, JsonObject template, JsonObject state, int restarts, bool ready, int? lastExit)
    {
        using (Enter())
        {
            if (!_pods.ContainsKey(pod.Name) || !_objects.TryGetValue(("deployments", pod.Deployment), out var deployment))
            {
                return;
            }

            var container = template["spec"]!["containers"]![0]!;
            var status = new JsonObject
            {
                ["name"] = container["name"]!.DeepClone(),
                ["image"] = container["image"]!.DeepClone(),
                ["ready"] = ready,
                ["restartCount"] = restarts,
                ["state"] = state,
            };
            if (lastExit is { } code)
            {
                status["lastState"] = new JsonObject
                {
                    ["terminated"] = new JsonObject { ["exitCode"] = code, ["reason"] = "Error" },
                };
            }

            _objects[("pods", pod.Name)] = new JsonObject
            {
                ["kind"] = "Pod",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject
                {
                    ["name"] = pod.Name,
                    ["namespace"] = deployment["metadata"]!["namespace"]!.DeepClone(),
                    ["labels"] = template["metadata"]!["labels"]!.DeepClone(),
                    ["resourceVersion"] = NextVersion(),
                },
                ["spec"] = template["spec"]!.DeepClone(),
                ["status"] = new JsonObject
                {
                    ["phase"] = state.ContainsKey("running") ? "Running" : "Pending",
                    ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = ready ? "True" : "False" }),
                    ["containerStatuses"] = new JsonArray(status),
                },
            };
            var replicas = deployment["spec"]!["replicas"]?.GetValue<int>() ?? 1;
            deployment["status"] = new JsonObject
            {
                ["observedGeneration"] = deployment["metadata"]!["generation"]!.DeepClone(),
                ["replicas"] = replicas,
                ["updatedReplicas"] = replicas,
                ["readyReplicas"] = ready ? replicas : 0,
                ["availableReplicas"] = ready ? replicas : 0,
            };
        }
    }

    /// <summary>GET pods/{name}/log with tailLines and follow, as text/plain.</summary>
    private async Task WriteLogAsync(HttpContext context, string name)
    {
        Pod? pod;
        using (Enter())
        {
            pod = _pods.GetValueOrDefault(name);
        }

        if (pod is null)
        {
            await StatusAsync(context, 404, "NotFound", $"pods \"{name}\" not found");
            return;
        }

        context.Response.ContentType = "text/plain";
        var tail = int.TryParse(context.Request.Query["tailLines"], out var n) ? n : int.MaxValue;
        var follow = context.Request.Query["follow"] == "true";
        var text = LogText(pod);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var line in lines.Skip(Math.Max(0, lines.Length - tail)))
        {
            await context.Response.WriteAsync(line + "\n");
        }

        await context.Response.Body.FlushAsync();
        var sent = text.Length;
        while (follow && !context.RequestAborted.IsCancellationRequested && !pod.Stop.IsCancellationRequested)
        {
            await Task.Delay(100);
            var now = LogText(pod);
            if (now.Length > sent)
            {
                await context.Response.WriteAsync(now[sent..]);
                await context.Response.Body.FlushAsync();
                sent = now.Length;
            }
        }
    }

    private static string LogText(Pod pod)
    {
        lock (pod.Log)
        {
            return pod.Log.ToString() + (pod.Process is { HasExited: false } running ? running.Output : "");
        }
    }
}
