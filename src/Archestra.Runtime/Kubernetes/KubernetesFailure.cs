using System.Net;
using System.Text.Json;
using k8s.Autorest;

namespace Archestra.Runtime.Kubernetes;

/// <summary>Which side and stage a Kubernetes call failed at (as <see cref="Upstreams.UpstreamError"/> does for MCP calls).</summary>
public enum KubernetesFailureKind
{
    /// <summary>No answer: the API server is down, unreachable or too slow; or the kubeconfig cannot be used.</summary>
    Unreachable,

    /// <summary>401: the credentials were refused.</summary>
    Unauthorized,

    /// <summary>403: RBAC does not grant a verb on a resource.</summary>
    Forbidden,

    /// <summary>404.</summary>
    NotFound,

    /// <summary>409: someone else changed or created the object first; the next pass sees their version.</summary>
    Conflict,

    /// <summary>422 and other 4xx: the object was refused (a quota, an admission webhook, a bad value).</summary>
    Rejected,

    /// <summary>5xx.</summary>
    ServerError,
}

/// <summary>A failed Kubernetes call with a message a user can act on.</summary>
public sealed record KubernetesFailure(KubernetesFailureKind Kind, string Message)
{
    /// <summary>For metrics labels.</summary>
    public string KindName =>
        Kind switch
        {
            KubernetesFailureKind.Unreachable => "unreachable",
            KubernetesFailureKind.Unauthorized => "unauthorized",
            KubernetesFailureKind.Forbidden => "forbidden",
            KubernetesFailureKind.NotFound => "not_found",
            KubernetesFailureKind.Conflict => "conflict",
            KubernetesFailureKind.Rejected => "rejected",
            _ => "server_error",
        };

    /// <summary>
    /// The failure an exception from the client stands for, or null for one that is not about the call (a bug).
    /// <paramref name="verb"/> and <paramref name="resource"/> (RBAC's words: <c>create</c>, <c>deployments.apps</c>)
    /// name what a 403 needs granted.
    /// </summary>
    public static KubernetesFailure? From(Exception exception, string verb, string resource, string ns, string host)
    {
        ArgumentNullException.ThrowIfNull(exception);
        switch (exception)
        {
            case HttpOperationException http:
                var status = http.Response?.StatusCode ?? 0;
                var detail = StatusMessage(http.Response?.Content);
                return status switch
                {
                    HttpStatusCode.Forbidden => new(
                        KubernetesFailureKind.Forbidden,
                        $"forbidden: the gateway's service account may not {verb} {resource} in namespace '{ns}'; grant the verb '{verb}' "
                            + $"on '{resource}' in its Role (deploy/kubernetes/base/rbac.yaml lists every verb the runtime uses). {detail}"
                    ),
                    HttpStatusCode.Unauthorized => new(
                        KubernetesFailureKind.Unauthorized,
                        $"unauthorized: {host} refused the gateway's credentials (an expired token or a wrong kubeconfig user). {detail}"
                    ),
                    HttpStatusCode.NotFound => new(KubernetesFailureKind.NotFound, $"not found: {verb} {resource} in namespace '{ns}'. {detail}"),
                    HttpStatusCode.Conflict => new(KubernetesFailureKind.Conflict, $"conflict: {verb} {resource}: {detail}"),
                    >= HttpStatusCode.InternalServerError => new(
                        KubernetesFailureKind.ServerError,
                        $"the API server failed to {verb} {resource} ({(int)status}): {detail}"
                    ),
                    _ => new(KubernetesFailureKind.Rejected, $"the API server refused to {verb} {resource} ({(int)status}): {detail}"),
                };
            case HttpRequestException or TaskCanceledException or IOException:
                return new(KubernetesFailureKind.Unreachable, $"the Kubernetes API server at {host} is unreachable ({exception.Message}); retrying");
            case k8s.Exceptions.KubeConfigException:
                return new(KubernetesFailureKind.Unreachable, $"the Kubernetes client configuration cannot be used: {exception.Message}");
            default:
                return null;
        }
    }

    /// <summary>The <c>message</c> of a <c>Status</c> body (bounded), or the start of whatever else was sent.</summary>
    private static string StatusMessage(string? content)
    {
        if (string.IsNullOrEmpty(content))
        {
            return "";
        }

        try
        {
            using var doc = JsonDocument.Parse(content);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("message", out var message))
            {
                return Bounded(message.GetString() ?? "");
            }
        }
        catch (JsonException)
        {
            // Not a Status object (a proxy's error page): shown as text.
        }

        return Bounded(content);
    }

    private static string Bounded(string text) => text.Length <= 500 ? text : text[..500] + "…";
}
