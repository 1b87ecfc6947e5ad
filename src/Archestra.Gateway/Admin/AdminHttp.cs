using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Archestra.Gateway.Http;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Admin;

/// <summary>One validation problem: the JSON path in the request (<c>$</c> is the body; <c>query.NAME</c> a query parameter).</summary>
internal readonly record struct FieldError(string Path, string Message);

/// <summary>
/// What a handler answers: a JSON body, a problem (RFC 9457), or nothing more (the handler wrote the response
/// itself, e.g. a log stream). Expected failures are values; nothing is thrown for them.
/// </summary>
internal sealed class AdminResult
{
    private AdminResult(int status, Action<Utf8JsonWriter>? body, string? title, string? detail, IReadOnlyList<FieldError>? errors)
    {
        Status = status;
        Body = body;
        Title = title;
        Detail = detail;
        Errors = errors;
    }

    public int Status { get; }

    public Action<Utf8JsonWriter>? Body { get; }

    public string? Title { get; }

    public string? Detail { get; }

    public IReadOnlyList<FieldError>? Errors { get; }

    public bool IsProblem => Title is not null;

    public static readonly AdminResult Written = new(0, null, null, null, null);

    public static AdminResult Json(int status, Action<Utf8JsonWriter> body) => new(status, body, null, null, null);

    public static AdminResult Ok(Action<Utf8JsonWriter> body) => Json(StatusCodes.Status200OK, body);

    public static AdminResult Created(Action<Utf8JsonWriter> body) => Json(StatusCodes.Status201Created, body);

    /// <summary>200 with a body written by its source-generated serialiser.</summary>
    public static AdminResult Ok<T>(T body, JsonTypeInfo<T> type) => Ok(AdminBodies.Writer(body, type));

    /// <summary>201 with a body written by its source-generated serialiser.</summary>
    public static AdminResult Created<T>(T body, JsonTypeInfo<T> type) => Created(AdminBodies.Writer(body, type));

    public static readonly AdminResult NoContent = new(StatusCodes.Status204NoContent, null, null, null, null);

    public static AdminResult Problem(int status, string detail, IReadOnlyList<FieldError>? errors = null) =>
        new(status, null, TitleOf(status), detail, errors);

    public static AdminResult NotFound(string what, string name) => Problem(StatusCodes.Status404NotFound, $"{what} '{name}' does not exist");

    public static AdminResult Conflict(string detail) => Problem(StatusCodes.Status409Conflict, detail);

    public static AdminResult FileManaged(string what, string name) =>
        Conflict($"{what} '{name}' is managed by the configuration file; change it there (the API cannot edit or delete file-managed resources)");

    public static AdminResult Invalid(IReadOnlyList<FieldError> errors) =>
        Problem(
            StatusCodes.Status422UnprocessableEntity,
            errors.Count == 1 ? $"{errors[0].Path}: {errors[0].Message}" : $"{errors.Count} problems in the request; see errors",
            errors
        );

    public static AdminResult Invalid(string path, string message) => Invalid([new FieldError(path, message)]);

    private static string TitleOf(int status) =>
        status switch
        {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            408 => "Request Timeout",
            409 => "Conflict",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            422 => "Unprocessable Content",
            503 => "Service Unavailable",
            _ => "Error",
        };

    public async Task WriteAsync(HttpContext http)
    {
        if (Status == 0)
        {
            return;
        }

        http.Response.StatusCode = Status;
        if (Status == StatusCodes.Status204NoContent)
        {
            return;
        }

        http.Response.ContentType = IsProblem ? "application/problem+json" : "application/json";
        var writer = new Utf8JsonWriter(http.Response.BodyWriter, new JsonWriterOptions { Indented = true });
        await using (writer.ConfigureAwait(false))
        {
            if (IsProblem)
            {
                WriteProblem(writer);
            }
            else
            {
                Body!(writer);
            }

            await writer.FlushAsync().ConfigureAwait(false);
        }
    }

    private void WriteProblem(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "about:blank");
        w.WriteString("title"u8, Title);
        w.WriteNumber("status"u8, Status);
        w.WriteString("detail"u8, Detail);
        if (Errors is { Count: > 0 })
        {
            w.WriteStartArray("errors"u8);
            foreach (var error in Errors)
            {
                w.WriteStartObject();
                w.WriteString("path"u8, error.Path);
                w.WriteString("message"u8, error.Message);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }
}

/// <summary>Request-side helpers: bodies, query parameters, route values.</summary>
internal static class AdminRequest
{
    private static readonly JsonDocumentOptions s_options = new() { MaxDepth = 64 };

    /// <summary>The body as a JSON object, or the problem that says why not (400 malformed, 415 wrong type, 422 not an object).</summary>
    public static async Task<(JsonDocument? Document, AdminResult? Problem)> ReadObjectAsync(HttpContext http)
    {
        var contentType = http.Request.ContentType;
        if (contentType is null || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, AdminResult.Problem(StatusCodes.Status415UnsupportedMediaType, "expected Content-Type: application/json"));
        }

        JsonDocument document;
        try
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted).ConfigureAwait(false);
            var bytes = body.GetBuffer().AsMemory(0, (int)body.Length);

            // The same rule as the gateway listener: a repeated key or invalid UTF-8 is refused, never resolved by
            // whichever copy the parser keeps (archestra check refuses the same in a file). Malformed JSON falls
            // through to the parser for its line and byte.
            if (StrictJson.Ambiguity(bytes.Span, s_options.MaxDepth) is { } why)
            {
                return (null, AdminResult.Problem(StatusCodes.Status400BadRequest, why, [new FieldError("$", why)]));
            }

            document = JsonDocument.Parse(bytes, s_options);
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            return (
                null,
                AdminResult.Problem(StatusCodes.Status400BadRequest, $"the body is not valid JSON{where}", [new FieldError("$", "malformed JSON" + where)])
            );
        }
        catch (BadHttpRequestException e)
        {
            // A broken chunked encoding, a body that trickles (408) or one over limits.maxAdminRequestBodyBytes (413),
            // answered as the other listeners answer it; with the client gone, Kestrel's own status stands.
            if (RequestBodyFailure.Describe(http, e, "limits.maxAdminRequestBodyBytes") is { } failure)
            {
                return (null, AdminResult.Problem(failure.Status, failure.Message));
            }

            throw;
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, AdminResult.Invalid("$", "expected a JSON object"));
        }

        return (document, null);
    }

    public static string Route(HttpContext http, string name) => (string)http.Request.RouteValues[name]!;

    public static string? Query(HttpContext http, string name) =>
        http.Request.Query.TryGetValue(name, out var values) && values.Count > 0 && !string.IsNullOrEmpty(values[0]) ? values[0] : null;

    public static DateTime? QueryTime(HttpContext http, string name, List<FieldError> errors)
    {
        if (Query(http, name) is not { } text)
        {
            return null;
        }

        if (DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        errors.Add(new FieldError("query." + name, $"expected an ISO 8601 time such as 2025-01-31T00:00:00Z, got '{text}'"));
        return null;
    }

    public static int QueryInt(HttpContext http, string name, int fallback, int min, int max, List<FieldError> errors)
    {
        if (Query(http, name) is not { } text)
        {
            return fallback;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors.Add(new FieldError("query." + name, $"expected an integer from {min} to {max}, got '{text}'"));
        return fallback;
    }

    /// <summary>A copy of an object without some keys, so the file's readers (which refuse unknown keys) can read the rest.</summary>
    public static JsonDocument Without(JsonElement element, params string[] keys)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var property in element.EnumerateObject())
            {
                if (Array.IndexOf(keys, property.Name) < 0)
                {
                    property.WriteTo(w);
                }
            }

            w.WriteEndObject();
        }

        return JsonDocument.Parse(buffer.WrittenMemory);
    }

    /// <summary>A required string property, reporting its absence or wrong type.</summary>
    public static string? RequiredString(JsonElement body, string key, List<FieldError> errors)
    {
        if (!body.TryGetProperty(key, out var value))
        {
            errors.Add(new FieldError("$", $"missing {key}"));
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text)
        {
            errors.Add(new FieldError("$." + key, "expected a non-empty string"));
            return null;
        }

        return text;
    }

    public static string? OptionalString(JsonElement body, string key, List<FieldError> errors)
    {
        if (!body.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new FieldError("$." + key, $"expected a string, got {Kind(value)}"));
            return null;
        }

        return value.GetString();
    }

    public static void UnknownKeys(JsonElement body, string path, string[] allowed, List<FieldError> errors)
    {
        foreach (var property in body.EnumerateObject())
        {
            if (Array.IndexOf(allowed, property.Name) < 0)
            {
                errors.Add(
                    new FieldError(Configuration.ConfigReader.Child(path, property.Name), $"unknown key; expected one of: {string.Join(", ", allowed)}")
                );
            }
        }
    }

    public static string Kind(JsonElement value) =>
        value.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Null => "null",
            _ => "nothing",
        };
}
