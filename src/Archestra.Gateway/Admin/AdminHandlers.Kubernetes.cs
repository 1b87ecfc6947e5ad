using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Runtime.Kubernetes;

namespace Archestra.Gateway.Admin;

/// <summary>The Kubernetes runtime in <c>/api/mcp-servers</c>: a file server's settings as the file spells them.</summary>
internal sealed partial class AdminHandlers
{
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
