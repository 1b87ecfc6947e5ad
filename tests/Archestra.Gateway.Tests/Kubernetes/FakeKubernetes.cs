using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Kubernetes;

/// <summary>
/// A Kubernetes API server for exactly the endpoints the runtime uses, speaking the real wire format (paths, verbs,
/// list kinds, label selectors, resourceVersion conflicts, <c>Status</c> bodies for 401/403/404/409/422, merge patches,
/// pod logs). It "runs" a Deployment by starting its container's command on this machine, with the Service's cluster
/// IP (127.0.0.1) and port in the bridge's --listen, so an MCP call reaches a real server. It cannot run an image: an
/// image maps to a local command through <see cref="Images"/>, or its pod waits in ErrImagePull.
/// </summary>
internal sealed partial class FakeKubernetes : IAsyncDisposable
{
    public const string Token = "fake-token";

    private static readonly Dictionary<string, (string Group, string Version, string Kind)> s_resources = new(StringComparer.Ordinal)
    {
        ["deployments"] = ("apps", "v1", "Deployment"),
        ["services"] = ("", "v1", "Service"),
        ["secrets"] = ("", "v1", "Secret"),
        ["pods"] = ("", "v1", "Pod"),
        ["networkpolicies"] = ("networking.k8s.io", "v1", "NetworkPolicy"),
        ["leases"] = ("coordination.k8s.io", "v1", "Lease"),
    };

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<(string Resource, string Name), JsonObject> _objects = [];
    private readonly List<string> _requests = [];
    private WebApplication? _app;
    private long _version = 100;

    private FakeKubernetes(int port)
    {
        Port = port;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Verb and resource pairs (RBAC's words: "create", "deployments.apps") answered with 403.</summary>
    public HashSet<(string Verb, string Resource)> Forbidden { get; } = [];

    /// <summary>Images the fake can run: their entrypoint as a local command line.</summary>
    public Dictionary<string, string[]> Images { get; } = new(StringComparer.Ordinal);

    /// <summary>Every request as "VERB resource name", in order.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            using (Enter())
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<FakeKubernetes> StartAsync()
    {
        var fake = new FakeKubernetes(Infrastructure.Repo.FreePort());
        await fake.ListenAsync();
        return fake;
    }

    /// <summary>A kubeconfig file for this server (plain HTTP, a bearer token), as <c>kubectl config view</c> writes one.</summary>
    public string WriteKubeconfig(string directory)
    {
        var path = Path.Combine(directory, "kubeconfig");
        File.WriteAllText(
            path,
            $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: {Url}
            users:
            - name: archestra
              user:
                token: {Token}
            contexts:
            - name: fake
              context:
                cluster: fake
                user: archestra
                namespace: mcp
            current-context: fake
            """
        );
        return path;
    }

    private async Task ListenAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(Url);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync();
        _app = app;
    }

    /// <summary>The API server goes away: connections are refused until <see cref="ComeBackAsync"/>.</summary>
    public async Task GoDownAsync()
    {
        var app = _app!;
        _app = null;
        await app.StopAsync();
        await app.DisposeAsync();
    }

    public Task ComeBackAsync() => ListenAsync();

    /// <summary>One stored object (a copy), or null.</summary>
    public JsonObject? Get(string resource, string name)
    {
        using (Enter())
        {
            return _objects.TryGetValue((resource, name), out var value) ? (JsonObject)value.DeepClone() : null;
        }
    }

    public IReadOnlyList<JsonObject> All(string resource)
    {
        using (Enter())
        {
            return _objects.Where(p => p.Key.Resource == resource).Select(p => (JsonObject)p.Value.DeepClone()).ToList();
        }
    }

    /// <summary>An edit by hand (kubectl edit): the object is replaced as given, its resourceVersion bumped.</summary>
    public void EditByHand(string resource, string name, Action<JsonObject> edit)
    {
        using (Enter())
        {
            var current = _objects[(resource, name)];
            edit(current);
            current["metadata"]!["resourceVersion"] = NextVersion();
            if (resource == "deployments")
            {
                Bump(current);
            }
        }

        if (resource == "deployments")
        {
            RunDeployment(name);
        }
    }

    /// <summary>A delete by hand (kubectl delete).</summary>
    public void DeleteByHand(string resource, string name)
    {
        using (Enter())
        {
            _objects.Remove((resource, name));
        }

        if (resource == "deployments")
        {
            _ = StopPods(name);
        }
    }

    private async Task<Releaser> EnterAsync()
    {
        await _gate.WaitAsync();
        return new Releaser(_gate);
    }

    private Releaser Enter()
    {
        _gate.Wait();
        return new Releaser(_gate);
    }

    private readonly struct Releaser(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }

    private string NextVersion() => Interlocked.Increment(ref _version).ToString(CultureInfo.InvariantCulture);

    private static void Bump(JsonObject deployment)
    {
        var metadata = deployment["metadata"]!.AsObject();
        metadata["generation"] = (metadata["generation"]?.GetValue<long>() ?? 0) + 1;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Headers.Authorization.ToString() != "Bearer " + Token)
        {
            await StatusAsync(context, 401, "Unauthorized", "Unauthorized");
            return;
        }

        // /api/v1/namespaces/{ns}/{resource}[/{name}[/log]] or /apis/{group}/{version}/namespaces/{ns}/{resource}[/{name}]
        var segments = request.Path.Value!.Trim('/').Split('/');
        var at = Array.IndexOf(segments, "namespaces");
        if (at < 0 || segments.Length < at + 3 || !s_resources.TryGetValue(segments[at + 2], out var type))
        {
            await StatusAsync(context, 404, "NotFound", "the server could not find the requested resource");
            return;
        }

        var ns = segments[at + 1];
        var resource = segments[at + 2];
        var name = segments.Length > at + 3 ? segments[at + 3] : null;
        var log = segments.Length > at + 4 && segments[at + 4] == "log";
        var verb = (request.Method, name, log) switch
        {
            ("GET", null, _) => "list",
            ("GET", _, _) => "get",
            ("POST", _, _) => "create",
            ("PUT", _, _) => "update",
            ("PATCH", _, _) => "patch",
            ("DELETE", _, _) => "delete",
            _ => "unknown",
        };
        var rbacResource = (log ? "pods/log" : resource) + (type.Group.Length > 0 ? "." + type.Group : "");
        using (Enter())
        {
            _requests.Add($"{verb} {rbacResource} {name}".TrimEnd());
        }

        if (Forbidden.Contains((verb, rbacResource)))
        {
            var group = type.Group.Length > 0 ? $"in API group \"{type.Group}\"" : "in API group \"\"";
            await StatusAsync(
                context,
                403,
                "Forbidden",
                $"{rbacResource}{(name is null ? "" : $" \"{name}\"")} is forbidden: User \"system:serviceaccount:{ns}:archestra\" cannot {verb} "
                    + $"resource \"{(log ? "pods/log" : resource)}\" {group} in the namespace \"{ns}\""
            );
            return;
        }

        if (log)
        {
            await WriteLogAsync(context, name!);
            return;
        }

        switch (verb)
        {
            case "list":
                await ListAsync(context, resource, type);
                break;
            case "get":
                await WriteObjectAsync(context, resource, name!, 200);
                break;
            case "create":
                await CreateAsync(context, ns, resource, type);
                break;
            case "update":
                await UpdateAsync(context, resource, name!);
                break;
            case "patch":
                await PatchAsync(context, resource, name!);
                break;
            case "delete":
                await DeleteAsync(context, resource, name!, type);
                break;
            default:
                await StatusAsync(context, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
                break;
        }
    }

    private async Task ListAsync(HttpContext context, string resource, (string Group, string Version, string Kind) type)
    {
        var selector = ParseSelector(context.Request.Query["labelSelector"].ToString());
        JsonArray items;
        string version;
        using (await EnterAsync())
        {
            items = new JsonArray(
                _objects
                    .Where(p => p.Key.Resource == resource && Matches(p.Value, selector))
                    .OrderBy(p => p.Key.Name)
                    .Select(p => p.Value.DeepClone())
                    .ToArray()
            );
            version = _version.ToString(CultureInfo.InvariantCulture);
        }

        var list = new JsonObject
        {
            ["kind"] = type.Kind + "List",
            ["apiVersion"] = ApiVersion(type),
            ["metadata"] = new JsonObject { ["resourceVersion"] = version },
            ["items"] = items,
        };
        await WriteJsonAsync(context, 200, list);
    }

    private async Task CreateAsync(HttpContext context, string ns, string resource, (string Group, string Version, string Kind) type)
    {
        var body = await ReadBodyAsync(context);
        if (body is null)
        {
            return;
        }

        var metadata = body["metadata"]!.AsObject();
        var name = metadata["name"]!.GetValue<string>();
        using (await EnterAsync())
        {
            if (_objects.ContainsKey((resource, name)))
            {
                await StatusAsync(context, 409, "AlreadyExists", $"{resource}{Group(type)} \"{name}\" already exists");
                return;
            }

            body["kind"] = type.Kind;
            body["apiVersion"] = ApiVersion(type);
            metadata["namespace"] = ns;
            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["resourceVersion"] = NextVersion();
            metadata["creationTimestamp"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            metadata["generation"] = 1L;
            if (resource == "services")
            {
                // Every Service gets 127.0.0.1: the tests give each server its own port.
                body["spec"]!["clusterIP"] = "127.0.0.1";
                body["spec"]!["clusterIPs"] = new JsonArray("127.0.0.1");
                body["spec"]!["sessionAffinity"] = "None";
            }

            if (resource == "deployments")
            {
                body["spec"]!["revisionHistoryLimit"] = 10;
                body["spec"]!["progressDeadlineSeconds"] = 600;
                foreach (var container in body["spec"]!["template"]!["spec"]!["containers"]!.AsArray())
                {
                    container!["imagePullPolicy"] ??= "IfNotPresent";
                    container["terminationMessagePath"] = "/dev/termination-log";
                }

                body["status"] = new JsonObject { ["observedGeneration"] = 1, ["replicas"] = 0 };
            }

            _objects[(resource, name)] = body;
        }

        if (resource == "deployments")
        {
            RunDeployment(name);
        }

        await WriteObjectAsync(context, resource, name, 201);
    }

    private async Task UpdateAsync(HttpContext context, string resource, string name)
    {
        var body = await ReadBodyAsync(context);
        if (body is null)
        {
            return;
        }

        var templateChanged = false;
        using (await EnterAsync())
        {
            if (!_objects.TryGetValue((resource, name), out var current))
            {
                await StatusAsync(context, 404, "NotFound", $"{resource} \"{name}\" not found");
                return;
            }

            var given = body["metadata"]!["resourceVersion"]?.GetValue<string>();
            var now = current["metadata"]!["resourceVersion"]!.GetValue<string>();
            if (given is null && resource is "services" or "leases")
            {
                await StatusAsync(
                    context,
                    422,
                    "Invalid",
                    $"{resource} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                );
                return;
            }

            if (given is not null && given != now)
            {
                await StatusAsync(
                    context,
                    409,
                    "Conflict",
                    $"Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; "
                        + "please apply your changes to the latest version and try again"
                );
                return;
            }

            foreach (var kept in new[] { "uid", "creationTimestamp", "namespace", "generation" })
            {
                body["metadata"]![kept] = current["metadata"]![kept]?.DeepClone();
            }

            body["kind"] = current["kind"]!.DeepClone();
            body["apiVersion"] = current["apiVersion"]!.DeepClone();
            body["metadata"]!["resourceVersion"] = NextVersion();
            if (resource == "deployments")
            {
                body["status"] = current["status"]?.DeepClone();
                templateChanged = !JsonNode.DeepEquals(body["spec"]?["template"], current["spec"]?["template"]);
                if (!JsonNode.DeepEquals(body["spec"], current["spec"]))
                {
                    Bump(body);
                }
            }

            _objects[(resource, name)] = body;
        }

        if (templateChanged)
        {
            RunDeployment(name);
        }

        await WriteObjectAsync(context, resource, name, 200);
    }

    private async Task PatchAsync(HttpContext context, string resource, string name)
    {
        if (context.Request.ContentType?.Split(';')[0].Trim() is not ("application/merge-patch+json" or "application/strategic-merge-patch+json"))
        {
            await StatusAsync(
                context,
                415,
                "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/merge-patch+json"
            );
            return;
        }

        var patch = await ReadBodyAsync(context);
        if (patch is null)
        {
            return;
        }

        var templateChanged = false;
        using (await EnterAsync())
        {
            if (!_objects.TryGetValue((resource, name), out var current))
            {
                await StatusAsync(context, 404, "NotFound", $"{resource} \"{name}\" not found");
                return;
            }

            var before = current["spec"]?["template"]?.DeepClone();
            MergePatch(current, patch);
            current["metadata"]!["resourceVersion"] = NextVersion();
            templateChanged = resource == "deployments" && !JsonNode.DeepEquals(before, current["spec"]?["template"]);
            if (templateChanged)
            {
                Bump(current);
            }
        }

        if (templateChanged)
        {
            RunDeployment(name);
        }

        await WriteObjectAsync(context, resource, name, 200);
    }

    /// <summary>RFC 7386: objects merge member by member, null deletes, anything else replaces.</summary>
    private static void MergePatch(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch.ToList())
        {
            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject child && target[key] is JsonObject existing)
            {
                MergePatch(existing, child);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }
    }

    private async Task DeleteAsync(HttpContext context, string resource, string name, (string Group, string Version, string Kind) type)
    {
        using (await EnterAsync())
        {
            if (!_objects.Remove((resource, name)))
            {
                await StatusAsync(context, 404, "NotFound", $"{resource}{Group(type)} \"{name}\" not found");
                return;
            }
        }

        if (resource == "deployments")
        {
            _ = StopPods(name);
        }

        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = new JsonObject
            {
                ["name"] = name,
                ["group"] = type.Group,
                ["kind"] = resource,
            },
        };
        await WriteJsonAsync(context, 200, status);
    }

    private async Task<JsonObject?> ReadBodyAsync(HttpContext context)
    {
        try
        {
            return (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        }
        catch (JsonException ex)
        {
            await StatusAsync(context, 400, "BadRequest", "the body could not be decoded: " + ex.Message);
            return null;
        }
    }

    private async Task WriteObjectAsync(HttpContext context, string resource, string name, int status)
    {
        if (Get(resource, name) is { } value)
        {
            await WriteJsonAsync(context, status, value);
        }
        else
        {
            await StatusAsync(context, 404, "NotFound", $"{resource} \"{name}\" not found");
        }
    }

    private static Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString());
    }

    /// <summary>The <c>Status</c> object the API server answers every failure with.</summary>
    private static Task StatusAsync(HttpContext context, int code, string reason, string message) =>
        WriteJsonAsync(
            context,
            code,
            new JsonObject
            {
                ["kind"] = "Status",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject(),
                ["status"] = "Failure",
                ["message"] = message,
                ["reason"] = reason,
                ["code"] = code,
            }
        );

    private static string ApiVersion((string Group, string Version, string Kind) type) =>
        type.Group.Length == 0 ? type.Version : $"{type.Group}/{type.Version}";

    private static string Group((string Group, string Version, string Kind) type) => type.Group.Length == 0 ? "" : "." + type.Group;

    private static List<(string Key, string? Value)> ParseSelector(string selector) =>
        selector
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(term => term.Split('=', 2) is [var key, var value] ? (key, (string?)value) : (term, null))
            .ToList();

    private static bool Matches(JsonObject value, List<(string Key, string? Value)> selector)
    {
        var labels = value["metadata"]?["labels"] as JsonObject;
        return selector.All(term => labels?[term.Key] is { } label && (term.Value is null || label.GetValue<string>() == term.Value));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAllPodsAsync();
        if (_app is { } app)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
