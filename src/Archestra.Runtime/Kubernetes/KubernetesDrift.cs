using System.Text.Json;
using k8s;
using k8s.Models;

namespace Archestra.Runtime.Kubernetes;

/// <summary>
/// Whether a live object still is what the gateway wrote. The API server adds defaults (imagePullPolicy,
/// terminationMessagePath, clusterIP...), so the live spec is never equal to the generated one; instead every field the
/// gateway sets must hold the same value, and every list the same number of items. A hand edit of any generated field
/// (an image, a dropped securityContext, an extra container or env entry) shows; a field nobody generated does not.
/// </summary>
public static class KubernetesDrift
{
    public static bool InSync(V1Deployment desired, V1Deployment actual) =>
        SameHash(desired.Metadata, actual.Metadata) && Covers(desired.Spec, actual.Spec) && HasLabels(desired.Metadata, actual.Metadata);

    public static bool InSync(V1Service desired, V1Service actual) =>
        SameHash(desired.Metadata, actual.Metadata) && Covers(desired.Spec, actual.Spec) && HasLabels(desired.Metadata, actual.Metadata);

    public static bool InSync(V1NetworkPolicy desired, V1NetworkPolicy actual) =>
        SameHash(desired.Metadata, actual.Metadata) && Covers(desired.Spec, actual.Spec) && HasLabels(desired.Metadata, actual.Metadata);

    /// <summary>A Secret's values compare as bytes: the gateway keeps no digest of them anywhere.</summary>
    public static bool InSync(V1Secret desired, V1Secret actual)
    {
        ArgumentNullException.ThrowIfNull(desired);
        ArgumentNullException.ThrowIfNull(actual);
        var want = desired.Data ?? new Dictionary<string, byte[]>();
        var have = actual.Data ?? new Dictionary<string, byte[]>();
        return want.Count == have.Count
            && want.All(p => have.TryGetValue(p.Key, out var value) && value.AsSpan().SequenceEqual(p.Value))
            && HasLabels(desired.Metadata, actual.Metadata);
    }

    private static bool HasLabels(V1ObjectMeta desired, V1ObjectMeta actual) =>
        desired.Labels.All(p => actual.Labels is { } labels && labels.TryGetValue(p.Key, out var value) && value == p.Value);

    private static bool SameHash(V1ObjectMeta desired, V1ObjectMeta actual) =>
        actual.Annotations is { } annotations
        && annotations.TryGetValue(KubernetesNames.SpecHashAnnotation, out var hash)
        && hash == desired.Annotations[KubernetesNames.SpecHashAnnotation];

    private static bool Covers<T>(T desired, T actual)
    {
        using var want = JsonDocument.Parse(KubernetesJson.Serialize(desired));
        using var have = JsonDocument.Parse(KubernetesJson.Serialize(actual));
        return Covers(want.RootElement, have.RootElement);
    }

    /// <summary>Every member of <paramref name="desired"/> is in <paramref name="actual"/> with a covered value; lists keep their length.</summary>
    public static bool Covers(JsonElement desired, JsonElement actual)
    {
        switch (desired.ValueKind)
        {
            case JsonValueKind.Object:
                if (actual.ValueKind != JsonValueKind.Object)
                {
                    return false;
                }

                foreach (var property in desired.EnumerateObject())
                {
                    if (!actual.TryGetProperty(property.Name, out var value))
                    {
                        // An empty object or list the server dropped ("emptyDir": {}, "egress": [{}] keeps its item).
                        if (property.Value.ValueKind is JsonValueKind.Object && !property.Value.EnumerateObject().Any())
                        {
                            continue;
                        }

                        return false;
                    }

                    if (!Covers(property.Value, value))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.Array:
                if (actual.ValueKind != JsonValueKind.Array || actual.GetArrayLength() != desired.GetArrayLength())
                {
                    return false;
                }

                using (var want = desired.EnumerateArray())
                using (var have = actual.EnumerateArray())
                {
                    while (want.MoveNext() && have.MoveNext())
                    {
                        if (!Covers(want.Current, have.Current))
                        {
                            return false;
                        }
                    }
                }

                return true;
            case JsonValueKind.Null:
                return true;
            default:
                return desired.ValueKind == actual.ValueKind && desired.GetRawText() == actual.GetRawText();
        }
    }
}
