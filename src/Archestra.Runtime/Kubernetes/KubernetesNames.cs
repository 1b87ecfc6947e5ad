using System.Security.Cryptography;
using System.Text;

namespace Archestra.Runtime.Kubernetes;

/// <summary>Kubernetes' naming rules (k8s.io/apimachinery/pkg/util/validation) and the names the runtime gives objects.</summary>
public static class KubernetesNames
{
    /// <summary>On every object the gateway creates; the reconciler owns exactly the objects that carry it.</summary>
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";

    public const string ManagedByValue = "archestra";

    /// <summary>The object name of the server an object belongs to (also the pod selector).</summary>
    public const string ServerLabel = "archestra.io/server";

    /// <summary>The server's name as configured (label values cannot hold every server name).</summary>
    public const string ServerNameAnnotation = "archestra.io/server-name";

    /// <summary>SHA-256 of the desired object as generated: a different value means the configuration changed.</summary>
    public const string SpecHashAnnotation = "archestra.io/spec-hash";

    /// <summary>The pod template annotation <c>kubectl rollout restart</c> sets; changing it rolls the pods.</summary>
    public const string RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt";

    public const string ManagedBySelector = ManagedByLabel + "=" + ManagedByValue;

    private const int MaxLabel = 63;

    /// <summary>
    /// The object name for a server: <c>mcp-</c> and the name in lower case with '_' as '-'; when that changed more than
    /// the case, or had to be shortened, 8 hex digits of the name's SHA-256 keep two servers apart (Foo_1 and foo-1).
    /// </summary>
    public static string ObjectName(string server)
    {
        ArgumentNullException.ThrowIfNull(server);
        var builder = new StringBuilder("mcp-", MaxLabel);
        var lossy = false;
        foreach (var c in server)
        {
            if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            {
                builder.Append(c);
            }
            else
            {
                lossy = true;
                builder.Append(char.IsAsciiLetterUpper(c) ? char.ToLowerInvariant(c) : '-');
            }
        }

        const int room = MaxLabel - 9;
        if (builder.Length > room)
        {
            builder.Length = room;
            lossy = true;
        }

        var name = builder.ToString().TrimEnd('-');
        if (!lossy && name.Length == builder.Length)
        {
            return name;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(server)).AsSpan(0, 4));
        return $"{name}-{hash}";
    }

    /// <summary>An RFC 1123 label: names of namespaces, Services and Deployments.</summary>
    public static bool IsDnsLabel(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length is 0 or > MaxLabel || value[0] == '-' || value[^1] == '-')
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A label value: empty, or at most 63 of [A-Za-z0-9._-] starting and ending with a letter or digit.</summary>
    public static bool IsLabelValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0)
        {
            return true;
        }

        if (value.Length > MaxLabel || !char.IsAsciiLetterOrDigit(value[0]) || !char.IsAsciiLetterOrDigit(value[^1]))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A label key: an optional DNS subdomain prefix and '/', then a name as a non-empty label value.</summary>
    public static bool IsLabelKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (name.Length == 0 || !IsLabelValue(name))
        {
            return false;
        }

        if (slash < 0)
        {
            return true;
        }

        var prefix = key[..slash];
        return prefix.Length is > 0 and <= 253 && prefix.Split('.').All(IsDnsLabel);
    }

    /// <summary>An image reference as a pod accepts it: printable, no whitespace; the registry judges the rest.</summary>
    public static bool IsImage(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length is 0 or > 4096)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c <= ' ' || c >= '\u007f')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A resource quantity (k8s.io/apimachinery/pkg/api/resource): a decimal number and one suffix, binary (Ki..Ei),
    /// decimal (n, u, m, k, M..E) or an exponent (e3). Never negative: these are requests and limits.
    /// </summary>
    public static bool IsQuantity(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var span = value.AsSpan();
        if (span.Length is 0 or > 64)
        {
            return false;
        }

        var i = span[0] == '+' ? 1 : 0;
        var digits = 0;
        while (i < span.Length && char.IsAsciiDigit(span[i]))
        {
            i++;
            digits++;
        }

        if (i < span.Length && span[i] == '.')
        {
            i++;
            while (i < span.Length && char.IsAsciiDigit(span[i]))
            {
                i++;
                digits++;
            }
        }

        if (digits == 0)
        {
            return false;
        }

        var suffix = span[i..];
        if (suffix.Length > 1 && suffix[0] is 'e' or 'E')
        {
            var exponent = suffix[1..];
            exponent = exponent[0] is '+' or '-' ? exponent[1..] : exponent;
            return exponent.Length > 0 && !exponent.ContainsAnyExceptInRange('0', '9');
        }

        return suffix switch
        {
            "" or "n" or "u" or "m" or "k" or "M" or "G" or "T" or "P" or "E" => true,
            "Ki" or "Mi" or "Gi" or "Ti" or "Pi" or "Ei" => true,
            _ => false,
        };
    }
}
