using System.Net;
using System.Text.Json.Nodes;
using Archestra.Runtime.Kubernetes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Archestra.Runtime.Tests.Kubernetes;

/// <summary>When a live object counts as what the gateway wrote, and how a failed call reads.</summary>
public sealed class KubernetesDriftTests
{
    private static readonly KubernetesManifest s_manifest = KubernetesManifests.Build(
        new KubernetesWorkload
        {
            Name = "memory",
            Command = "npx",
            Args = ["-y", "server"],
        },
        new KubernetesOptions()
    );

    /// <summary>The Deployment as an API server answers it: the generated one with its defaults and status added.</summary>
    private static V1Deployment Live(Action<JsonObject>? edit = null)
    {
        var json = JsonNode.Parse(KubernetesJson.Serialize(s_manifest.Deployment))!.AsObject();
        json["metadata"]!["resourceVersion"] = "42";
        json["metadata"]!["uid"] = "0f5c";
        json["spec"]!["revisionHistoryLimit"] = 10;
        json["spec"]!["template"]!["spec"]!["dnsPolicy"] = "ClusterFirst";
        json["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicy"] = "IfNotPresent";
        json["spec"]!["template"]!["spec"]!["containers"]![0]!["terminationMessagePath"] = "/dev/termination-log";
        json["spec"]!["template"]!["metadata"]!["annotations"] = new JsonObject { ["kubectl.kubernetes.io/restartedAt"] = "2026-12-06T08:00:00Z" };
        json["status"] = new JsonObject { ["readyReplicas"] = 1 };
        edit?.Invoke(json);
        return KubernetesJson.Deserialize<V1Deployment>(json.ToJsonString());
    }

    [Fact]
    public void Server_defaults_status_and_a_restart_annotation_are_not_drift() => Assert.True(KubernetesDrift.InSync(s_manifest.Deployment, Live()));

    [Theory]
    [InlineData("image")]
    [InlineData("securityContext")]
    [InlineData("extra env")]
    [InlineData("replicas")]
    [InlineData("hash")]
    [InlineData("label")]
    public void A_hand_edit_of_a_generated_field_is_drift(string edit)
    {
        var live = Live(json =>
        {
            var container = json["spec"]!["template"]!["spec"]!["containers"]![0]!.AsObject();
            switch (edit)
            {
                case "image":
                    container["image"] = "evil/miner:1";
                    break;
                case "securityContext":
                    container.Remove("securityContext");
                    break;
                case "extra env":
                    container["env"] = new JsonArray(new JsonObject { ["name"] = "X", ["value"] = "1" });
                    container["args"]!.AsArray().Add("--more");
                    break;
                case "replicas":
                    json["spec"]!["replicas"] = 5;
                    break;
                case "hash":
                    json["metadata"]!["annotations"]!["archestra.io/spec-hash"] = "0000";
                    break;
                default:
                    json["metadata"]!["labels"]!["app.kubernetes.io/managed-by"] = "someone-else";
                    break;
            }
        });
        Assert.False(KubernetesDrift.InSync(s_manifest.Deployment, live));
    }

    [Fact]
    public void Secrets_compare_their_values_as_bytes()
    {
        var desired = KubernetesManifests
            .Build(
                new KubernetesWorkload
                {
                    Name = "s",
                    Command = "x",
                    Env = new Dictionary<string, string> { ["K"] = "v1" },
                },
                new KubernetesOptions()
            )
            .Secret!;
        var same = KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(desired));
        Assert.True(KubernetesDrift.InSync(desired, same));
        same.Data["K"] = "v2"u8.ToArray();
        Assert.False(KubernetesDrift.InSync(desired, same));
    }

    [Fact]
    public void A_403_names_the_verb_the_resource_the_namespace_and_what_the_api_server_said()
    {
        var exception = new HttpOperationException("Operation returned an invalid status code 'Forbidden'")
        {
            Response = new HttpResponseMessageWrapper(
                new HttpResponseMessage(HttpStatusCode.Forbidden),
                """{"kind":"Status","apiVersion":"v1","status":"Failure","message":"deployments.apps is forbidden: User \"x\" cannot create","""
                    + """ "reason":"Forbidden","code":403}"""
            ),
        };
        var failure = KubernetesFailure.From(exception, "create", "deployments.apps", "mcp", "https://10.0.0.1")!;
        Assert.Equal(KubernetesFailureKind.Forbidden, failure.Kind);
        Assert.Equal("forbidden", failure.KindName);
        Assert.StartsWith(
            "forbidden: the gateway's service account may not create deployments.apps in namespace 'mcp'; grant the verb 'create'",
            failure.Message,
            StringComparison.Ordinal
        );
        Assert.EndsWith("deployments.apps is forbidden: User \"x\" cannot create", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_answer_is_unreachable_and_a_bug_is_not_a_failure()
    {
        var failure = KubernetesFailure.From(new HttpRequestException("Connection refused"), "list", "pods", "mcp", "https://10.0.0.1")!;
        Assert.Equal(KubernetesFailureKind.Unreachable, failure.Kind);
        Assert.Contains("https://10.0.0.1 is unreachable (Connection refused)", failure.Message, StringComparison.Ordinal);
        Assert.Null(KubernetesFailure.From(new InvalidOperationException("bug"), "list", "pods", "mcp", "h"));
    }
}
