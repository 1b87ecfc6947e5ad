using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;

namespace Archestra.Gateway.Configuration;

/// <summary>The reader's building blocks: typed values with their errors, object structure, names, addresses.</summary>
internal sealed partial class ConfigReader
{
    // ---- generic readers ----

    private string? ReadChoice(JsonElement element, string path, params string[] choices)
    {
        if (!TryReadString(element, path, out var text))
        {
            return null;
        }

        foreach (var choice in choices)
        {
            if (text.Value == choice)
            {
                return choice;
            }
        }

        Error(path, $"expected one of {string.Join(", ", choices)}, got {text.Shown}");
        return null;
    }

    private List<string> ReadStringArray(JsonElement element, string path, Func<string, bool>? isValid, string? expected)
    {
        var values = new List<string>();
        if (element.ValueKind != JsonValueKind.Array)
        {
            ExpectedKind(path, "an array of strings", element);
            return values;
        }

        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            var itemPath = Index(path, index++);
            if (!TryReadString(item, itemPath, out var text))
            {
                continue;
            }

            if (isValid is not null && !isValid(text.Value))
            {
                Error(itemPath, $"expected {expected}, got {text.Shown}");
                continue;
            }

            values.Add(text.Value);
        }

        return values;
    }

    private FrozenDictionary<string, string> ReadStringMap(
        JsonElement element,
        string path,
        StringComparer keyComparer,
        Func<string, bool> isValidKey,
        string expectedKey,
        Func<string, bool> isValidValue,
        string expectedValue
    )
    {
        var map = new Dictionary<string, string>(keyComparer);
        if (!ExpectObject(element, path))
        {
            return map.ToFrozenDictionary(keyComparer);
        }

        foreach (var property in UniqueProperties(element, path, keyComparer))
        {
            var itemPath = Child(path, property.Name);
            if (!isValidKey(property.Name))
            {
                Error(itemPath, $"expected {expectedKey} as the key");
                continue;
            }

            if (!TryReadString(property.Value, itemPath, out var text))
            {
                continue;
            }

            if (!isValidValue(text.Value))
            {
                Error(itemPath, $"expected {expectedValue}");
                continue;
            }

            map[property.Name] = text.Value;
        }

        return map.ToFrozenDictionary(keyComparer);
    }

    private bool TryReadString(JsonElement element, string path, out Text text)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            ExpectedKind(path, "a string", element);
            text = default;
            return false;
        }

        var raw = element.GetString()!;
        if (!raw.StartsWith(EnvPrefix, StringComparison.Ordinal))
        {
            text = new Text(raw, null);
            return true;
        }

        if (TryResolveEnv(raw, path, out var value))
        {
            text = new Text(value, raw[EnvPrefix.Length..]);
            return true;
        }

        text = default;
        return false;
    }

    private bool TryResolveEnv(string reference, string path, out string value)
    {
        var name = reference[EnvPrefix.Length..];
        value = "";
        if (!IsEnvironmentName(name))
        {
            Error(path, $"expected env:NAME with NAME made of letters, digits and '_' (not starting with a digit), got '{reference}'");
            return false;
        }

        var resolved = _getEnv(name);
        if (resolved is null)
        {
            Error(path, $"environment variable {name} is not set");
            return false;
        }

        value = resolved;
        return true;
    }

    /// <summary>An integer as a JSON number, or an <c>env:NAME</c> string whose value is one (handy in containers).</summary>
    private bool TryReadInteger(JsonElement element, string path, long min, long max, out long value)
    {
        value = 0;
        string shown;
        switch (element.ValueKind)
        {
            case JsonValueKind.Number:
                if (!element.TryGetInt64(out value))
                {
                    Error(path, $"expected an integer between {min} and {max}, got {element.GetRawText()}");
                    return false;
                }

                shown = value.ToString(CultureInfo.InvariantCulture);
                break;
            case JsonValueKind.String when element.GetString()!.StartsWith(EnvPrefix, StringComparison.Ordinal):
                if (!TryReadString(element, path, out var text))
                {
                    return false;
                }

                if (!long.TryParse(text.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
                {
                    Error(path, $"expected an integer between {min} and {max}, got {text.Shown}");
                    return false;
                }

                shown = value.ToString(CultureInfo.InvariantCulture);
                break;
            default:
                ExpectedKind(path, "an integer", element);
                return false;
        }

        if (value < min || value > max)
        {
            Error(path, $"expected an integer between {min} and {max}, got {shown}");
            return false;
        }

        return true;
    }

    private bool TryReadNumber(JsonElement element, string path, out double value)
    {
        value = 0;
        if (element.ValueKind == JsonValueKind.Number)
        {
            return element.TryGetDouble(out value) || Fail(path, "expected a finite number", out value);
        }

        if (element.ValueKind == JsonValueKind.String && element.GetString()!.StartsWith(EnvPrefix, StringComparison.Ordinal))
        {
            if (!TryReadString(element, path, out var text))
            {
                return false;
            }

            if (double.TryParse(text.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value))
            {
                return true;
            }

            Error(path, $"expected a number, got {text.Shown}");
            return false;
        }

        ExpectedKind(path, "a number", element);
        return false;
    }

    private bool Fail(string path, string message, out double value)
    {
        Error(path, message);
        value = 0;
        return false;
    }

    // ---- structure ----

    private bool ExpectObject(JsonElement element, string path)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            return true;
        }

        ExpectedKind(path, "an object", element);
        return false;
    }

    /// <summary>The properties whose names are in <paramref name="allowed"/>; reports unknown and repeated keys.</summary>
    private List<JsonProperty> KnownProperties(JsonElement element, string path, string[] allowed)
    {
        var result = new List<JsonProperty>();
        foreach (var property in UniqueProperties(element, path, StringComparer.Ordinal))
        {
            if (Array.IndexOf(allowed, property.Name) >= 0)
            {
                result.Add(property);
            }
            else
            {
                Error(Child(path, property.Name), $"unknown key; expected one of: {string.Join(", ", allowed)}");
            }
        }

        return result;
    }

    /// <summary>Properties in document order, without repeats. JsonDocument keeps every duplicate, so we check.</summary>
    private List<JsonProperty> UniqueProperties(JsonElement element, string path, StringComparer comparer)
    {
        var result = new List<JsonProperty>();
        var seen = new HashSet<string>(comparer);
        foreach (var property in element.EnumerateObject())
        {
            if (seen.Add(property.Name))
            {
                result.Add(property);
            }
            else
            {
                Error(Child(path, property.Name), "duplicate key");
            }
        }

        return result;
    }

    private bool CheckName(string name, string path, string what)
    {
        if (IsName(name))
        {
            return true;
        }

        Error(path, $"a {what} name must be 1-{MaxNameLength} characters of A-Z, a-z, 0-9, '_' and '-'");
        return false;
    }

    private void ExpectedKind(string path, string expected, JsonElement actual) => Error(path, $"expected {expected}, got {Describe(actual.ValueKind)}");

    private void Error(string path, string message)
    {
        _errors.Add($"{_source}: {path}: {message}");
        _pathErrors.Add((path, message));
    }

    private static string Describe(JsonValueKind kind) =>
        kind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Null => "null",
            _ => "nothing",
        };

    internal static string Child(string path, string key)
    {
        if (key.Length > 0 && IsPlainKey(key))
        {
            return $"{path}.{key}";
        }

        return $"{path}['{key.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)}']";
    }

    internal static string Index(string path, int index) => $"{path}[{index.ToString(CultureInfo.InvariantCulture)}]";

    private static bool IsPlainKey(string key)
    {
        foreach (var c in key)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '_' and not '-' and not '$')
            {
                return false;
            }
        }

        return true;
    }

    internal static bool IsName(string name)
    {
        if (name.Length is 0 or > MaxNameLength)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '_' and not '-')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsEnvironmentName(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsEnvironmentKey(string key) => key.Length > 0 && key.AsSpan().IndexOfAny('=', '\0') < 0;

    private static readonly System.Buffers.SearchValues<char> s_tokenChars = System.Buffers.SearchValues.Create(
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    );

    private static bool IsHeaderName(string name) => name.Length > 0 && !name.AsSpan().ContainsAnyExcept(s_tokenChars);

    /// <summary>http://host:port with an explicit port and no path; <paramref name="authority"/> is host:port.</summary>
    internal static bool TryParseListenAddress(string value, out string authority)
    {
        authority = "";
        const string scheme = "http://";
        if (!value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = value[scheme.Length..];
        if (rest.EndsWith('/'))
        {
            rest = rest[..^1];
        }

        if (!TrySplitHostPort(rest, out var host, out var port) || port is null)
        {
            return false;
        }

        // Kestrel reads * and + as "every address".
        if (host is not ("*" or "+") && !IsHost(host))
        {
            return false;
        }

        authority = rest;
        return true;
    }

    private static bool IsHostWithOptionalPort(string value) => TrySplitHostPort(value, out var host, out _) && IsHost(host);

    private static bool TrySplitHostPort(string value, out string host, out int? port)
    {
        host = value;
        port = null;
        if (value.Length == 0 || value.AsSpan().IndexOfAny("/?#@ \t") >= 0)
        {
            return false;
        }

        string? portText;
        if (value[0] == '[')
        {
            var close = value.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = value[..(close + 1)];
            var after = value[(close + 1)..];
            if (after.Length == 0)
            {
                return true;
            }

            if (after[0] != ':')
            {
                return false;
            }

            portText = after[1..];
        }
        else
        {
            var colon = value.LastIndexOf(':');
            if (colon < 0)
            {
                return true;
            }

            host = value[..colon];
            portText = value[(colon + 1)..];
        }

        if (portText.Length is 0 or > 5 || portText.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        var number = int.Parse(portText, NumberStyles.None, CultureInfo.InvariantCulture);
        if (number > 65535)
        {
            return false;
        }

        port = number;
        return true;
    }

    private static bool IsHost(string host)
    {
        if (host.Length == 0)
        {
            return false;
        }

        if (host[0] == '[')
        {
            return host[^1] == ']' && Uri.CheckHostName(host[1..^1]) == UriHostNameType.IPv6;
        }

        return Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4;
    }

    private static bool IsOrigin(string value)
    {
        if (value == "*")
        {
            return true;
        }

        // Browsers send Origin as scheme://host[:port] with nothing after it, and matching is exact.
        return !value.EndsWith('/')
            && Uri.TryCreate(value, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && uri.Host.Length > 0
            && uri.AbsolutePath == "/"
            && uri.Query.Length == 0
            && uri.Fragment.Length == 0
            && uri.UserInfo.Length == 0;
    }
}
