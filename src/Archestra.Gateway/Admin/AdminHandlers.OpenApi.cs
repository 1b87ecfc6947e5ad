using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization.Metadata;

namespace Archestra.Gateway.Admin;

/// <summary>
/// <c>GET /api/openapi.json</c>: OpenAPI 3.1, written from the same route table that maps the endpoints, plus the
/// routes the server maps itself (<c>/healthz</c>, <c>/api/status</c>, the web console's files). A route's body schemas are generated from
/// the records its bodies are serialised from (<see cref="AdminJson"/>), so they describe exactly what is sent.
/// </summary>
internal sealed partial class AdminHandlers
{
    /// <summary>Routes on the admin listener that <see cref="GatewayServer"/> maps, not this class.</summary>
    internal static readonly (string Method, string Pattern, string Summary)[] ServerRoutes =
    [
        ("GET", "/healthz", "200 while the process is alive"),
        ("GET", "/api/status", "Servers, profiles, session count, the last minute's call rates and the audit queue (no key needed)"),
        ("GET", "/", "The web console's page (HTML; no key needed: it holds no data)"),
        ("GET", "/console/{file}", "The web console's script and style sheet (no key needed: they hold no data)"),
    ];

    private AdminResult OpenApi() => AdminResult.Ok(WriteOpenApi);

    private void WriteOpenApi(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("openapi"u8, "3.1.0");
        w.WriteStartObject("info"u8);
        w.WriteString("title"u8, "Archestra admin API");
        w.WriteString("version"u8, GatewayInfo.Version);
        w.WriteString(
            "description"u8,
            "Authenticate with Authorization: Bearer <admin key>. Errors are application/problem+json (RFC 9457); validation errors list "
                + "{path, message} in errors."
        );
        w.WriteEndObject();
        w.WriteStartArray("security"u8);
        w.WriteStartObject();
        w.WriteStartArray("adminKey"u8);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();

        w.WriteStartObject("paths"u8);
        var byPattern = new SortedDictionary<string, List<(string Method, string Summary, AdminRoute? Route)>>(StringComparer.Ordinal);
        foreach (var route in Routes)
        {
            Add(byPattern, route.Pattern, (route.Method, route.Summary, route));
        }

        foreach (var (method, pattern, summary) in ServerRoutes)
        {
            Add(byPattern, pattern, (method, summary, null));
        }

        foreach (var (pattern, operations) in byPattern)
        {
            w.WriteStartObject(pattern);
            foreach (var (method, summary, route) in operations)
            {
                w.WriteStartObject(method.ToLowerInvariant());
                w.WriteString("summary"u8, summary);
                w.WriteString("operationId"u8, OperationId(method, pattern));
                if (route is not null)
                {
                    w.WriteStartArray("tags"u8);
                    w.WriteStringValue(route.Tag);
                    w.WriteEndArray();
                }

                if (route is null || route.Public)
                {
                    w.WriteStartArray("security"u8);
                    w.WriteEndArray();
                }

                WriteParameters(w, pattern, route?.Query);
                if (route is { Body: true })
                {
                    w.WriteStartObject("requestBody"u8);
                    w.WriteBoolean("required"u8, true);
                    w.WriteStartObject("content"u8);
                    w.WriteStartObject("application/json"u8);
                    WriteSchema(w, route.Request);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                WriteResponses(w, method, route);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();

        w.WriteStartObject("components"u8);
        w.WriteStartObject("securitySchemes"u8);
        w.WriteStartObject("adminKey"u8);
        w.WriteString("type"u8, "http");
        w.WriteString("scheme"u8, "bearer");
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject("schemas"u8);
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var route in Routes)
        {
            foreach (var type in new[] { route.Request, route.Response })
            {
                if (type is not null && written.Add(SchemaName(type)))
                {
                    w.WritePropertyName(SchemaName(type));
                    Schema(type).WriteTo(w);
                }
            }
        }

        w.WriteStartObject("Problem"u8);
        w.WriteString("type"u8, "object");
        w.WriteStartObject("properties"u8);
        foreach (var name in new[] { "type", "title", "detail" })
        {
            w.WriteStartObject(name);
            w.WriteString("type"u8, "string");
            w.WriteEndObject();
        }

        w.WriteStartObject("status"u8);
        w.WriteString("type"u8, "integer");
        w.WriteEndObject();
        w.WriteStartObject("errors"u8);
        w.WriteString("type"u8, "array");
        w.WriteStartObject("items"u8);
        w.WriteString("type"u8, "object");
        w.WriteStartObject("properties"u8);
        w.WriteStartObject("path"u8);
        w.WriteString("type"u8, "string");
        w.WriteEndObject();
        w.WriteStartObject("message"u8);
        w.WriteString("type"u8, "string");
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>
    /// A body's schema under components/schemas: <c>Price</c> for PriceBody, <c>PriceList</c> for its list, <c>ToolCallPage</c> for an
    /// audit page, <c>PriceRequest</c>.
    /// </summary>
    internal static string SchemaName(JsonTypeInfo type)
    {
        var clr = type.Type;
        var wrapper = clr.IsGenericType ? clr.GetGenericTypeDefinition() : null;
        var name = (wrapper is null ? clr : clr.GenericTypeArguments[0]).Name;
        name = name.EndsWith("Body", StringComparison.Ordinal) ? name[..^4] : name;
        return wrapper == typeof(ItemsBody<>) ? name + "List"
            : wrapper == typeof(PageBody<>) ? name + "Page"
            : name;
    }

    /// <summary>
    /// The JSON Schema of a body record: required properties are the ones always written, and an object admits no
    /// property its record lacks (unless it keeps extra ones, like a profile's settings).
    /// </summary>
    internal static JsonNode Schema(JsonTypeInfo type) =>
        JsonSchemaExporter.GetJsonSchemaAsNode(
            type,
            new JsonSchemaExporterOptions
            {
                TreatNullObliviousAsNonNullable = true,
                TransformSchemaNode = static (context, node) =>
                {
                    var type = context.TypeInfo;
                    if (type.Kind == JsonTypeInfoKind.Object && node is JsonObject schema && !type.Properties.Any(static p => p.IsExtensionData))
                    {
                        schema["additionalProperties"] = false;
                    }

                    return node;
                },
            }
        );

    /// <summary><c>"schema"</c>: a reference to the body's schema, or any object.</summary>
    private static void WriteSchema(Utf8JsonWriter w, JsonTypeInfo? type)
    {
        w.WriteStartObject("schema"u8);
        if (type is null)
        {
            w.WriteString("type"u8, "object");
        }
        else
        {
            w.WriteString("$ref"u8, "#/components/schemas/" + SchemaName(type));
        }

        w.WriteEndObject();
    }

    private static void Add(SortedDictionary<string, List<(string, string, AdminRoute?)>> map, string pattern, (string, string, AdminRoute?) operation)
    {
        if (!map.TryGetValue(pattern, out var list))
        {
            map[pattern] = list = [];
        }

        list.Add(operation);
    }

    private static string OperationId(string method, string pattern)
    {
        var id = new System.Text.StringBuilder(method.ToLowerInvariant());
        var upper = true;
        foreach (var c in pattern)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                id.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            else
            {
                upper = true;
            }
        }

        return id.ToString();
    }

    private static void WriteParameters(Utf8JsonWriter w, string pattern, string[]? query)
    {
        w.WriteStartArray("parameters"u8);
        var start = pattern.IndexOf('{', StringComparison.Ordinal);
        while (start >= 0)
        {
            var end = pattern.IndexOf('}', start);
            WriteParameter(w, pattern[(start + 1)..end], "path", required: true);
            start = pattern.IndexOf('{', end);
        }

        foreach (var name in query ?? [])
        {
            WriteParameter(w, name, "query", required: false);
        }

        w.WriteEndArray();
    }

    private static void WriteParameter(Utf8JsonWriter w, string name, string location, bool required)
    {
        w.WriteStartObject();
        w.WriteString("name"u8, name);
        w.WriteString("in"u8, location);
        w.WriteBoolean("required"u8, required);
        w.WriteStartObject("schema"u8);
        w.WriteString("type"u8, name is "limit" or "lines" ? "integer" : "string");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteResponses(Utf8JsonWriter w, string method, AdminRoute? route)
    {
        w.WriteStartObject("responses"u8);
        var success = method switch
        {
            "POST" when route?.Pattern.EndsWith("/restart", StringComparison.Ordinal) == true => "200",
            "POST" => "201",
            "DELETE" => "204",
            _ => "200",
        };
        w.WriteStartObject(success);
        w.WriteString("description"u8, success == "204" ? "Deleted" : "Success");
        if (success != "204")
        {
            w.WriteStartObject("content"u8);
            w.WriteStartObject(
                route?.Pattern.EndsWith("/logs", StringComparison.Ordinal) == true ? "application/json"
                : route is null && method == "GET" ? "text/plain"
                : "application/json"
            );
            if (route is null)
            {
                w.WriteStartObject("schema"u8);
                w.WriteString("type"u8, "string");
                w.WriteEndObject();
            }
            else
            {
                WriteSchema(w, route.Response);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndObject();
        if (route is not null)
        {
            var statuses = new List<string> { "401" };
            if (route.Write)
            {
                statuses.Add("403");
            }

            if (route.Pattern.Contains('{', StringComparison.Ordinal))
            {
                statuses.Add("404");
            }

            if (route.Write)
            {
                statuses.Add("409");
            }

            if (route.Body || route.Query is not null)
            {
                statuses.Add("422");
            }

            foreach (var status in route.Public ? [] : statuses)
            {
                w.WriteStartObject(status);
                w.WriteString(
                    "description"u8,
                    status switch
                    {
                        "401" => "Missing or unknown admin key",
                        "403" => "Read-only admin key",
                        "404" => "No such resource",
                        "409" => "Name taken, resource managed by the configuration file, or the change would break another resource",
                        _ => "Invalid request; errors name the JSON path",
                    }
                );
                w.WriteStartObject("content"u8);
                w.WriteStartObject("application/problem+json"u8);
                w.WriteStartObject("schema"u8);
                w.WriteString("$ref"u8, "#/components/schemas/Problem");
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
            }
        }

        w.WriteEndObject();
    }
}
