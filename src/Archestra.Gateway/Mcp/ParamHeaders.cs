using System.Globalization;
using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// SEP-2243's custom headers (2026-07-28 transports, "Custom Headers from Tool Parameters"): a tool's <c>inputSchema</c> may mark
/// a top-level property with <c>x-mcp-header</c>, and a modern client then sends that argument as <c>Mcp-Param-{Name}</c> too.
/// Something in front of the gateway may have routed on the header while the upstream acts on the body, so the two must agree:
/// a missing header for an argument in the body, a value that is not valid Base64 in its <c>=?base64?…?=</c> form, or a value
/// that differs is refused with 400 and -32020, and never forwarded. A null or absent argument needs no header.
/// </summary>
internal static class ParamHeaders
{
    /// <summary>
    /// The declarations of a tool listing (raw JSON), read once per listing. Only well-formed ones count (an RFC 9110 token as
    /// the name, a string, integer, number or boolean property, names unique ignoring case): the spec makes a malformed one invalid,
    /// and an invalid one cannot be enforced.
    /// </summary>
    public static ParamHeader[] Scan(byte[] tool)
    {
        if (tool.AsSpan().IndexOf("x-mcp-header"u8) < 0)
        {
            return [];
        }

        try
        {
            using var document = JsonDocument.Parse(tool);
            if (
                !document.RootElement.TryGetProperty("inputSchema", out var schema)
                || schema.ValueKind != JsonValueKind.Object
                || !schema.TryGetProperty("properties", out var properties)
                || properties.ValueKind != JsonValueKind.Object
            )
            {
                return [];
            }

            var found = new List<ParamHeader>();
            foreach (var property in properties.EnumerateObject())
            {
                if (
                    property.Value.ValueKind != JsonValueKind.Object
                    || !property.Value.TryGetProperty("x-mcp-header", out var header)
                    || header.GetString() is not { Length: > 0 } name
                    || !IsToken(name)
                    || found.Exists(f => string.Equals(f.Header, name, StringComparison.OrdinalIgnoreCase))
                    || !property.Value.TryGetProperty("type", out var type)
                    || type.GetString() is not ("string" or "integer" or "number" or "boolean")
                )
                {
                    continue;
                }

                found.Add(new ParamHeader(name, Encoding.UTF8.GetBytes(property.Name), type.GetString() is "integer" or "number"));
            }

            return [.. found];
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // A listing the gateway relays as it is; without readable declarations there is nothing to enforce.
            return [];
        }
    }

    /// <summary>Why the request's <c>Mcp-Param-*</c> headers disagree with its arguments, or null when they agree.</summary>
    public static ModernFailure? Check(HttpRequest request, ReadOnlySpan<byte> body, in JsonRpcEnvelope env, ParamHeader[] declared)
    {
        var arguments = env.Arguments.Of(body);
        foreach (var param in declared)
        {
            var (text, quoted) = ModernEnvelope.ParamArgument(arguments, param.Property);
            if (text is null)
            {
                continue;
            }

            var header = McpHeaders.ParamPrefix + param.Header;
            var property = Encoding.UTF8.GetString(param.Property);
            if (!ModernValidation.TryOne(request.Headers[header], out var sent))
            {
                return ModernValidation.Mismatch($"arguments.{property} is in the body, so the {header} header is required, once");
            }

            if (!ModernValidation.TryDecode(sent, out var decoded))
            {
                return ModernValidation.Mismatch($"{header} header value '{sent}' is not valid {McpHeaders.Base64Prefix}…{McpHeaders.Base64Suffix} Base64");
            }

            if (decoded != text && !(param.Numeric && !quoted && SameNumber(decoded, text)))
            {
                return ModernValidation.Mismatch($"{header} header value '{decoded}' does not match arguments.{property} '{text}'");
            }
        }

        return null;
    }

    /// <summary>Integers compare as numbers ("42" and 42.0 agree), in the canonical decimal form only.</summary>
    private static bool SameNumber(string header, string body) =>
        decimal.TryParse(header, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var a)
        && decimal.TryParse(body, NumberStyles.Float, CultureInfo.InvariantCulture, out var b)
        && a == b;

    /// <summary>RFC 9110 §5.6.2 token: 1*tchar.</summary>
    private static bool IsToken(string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }
}
