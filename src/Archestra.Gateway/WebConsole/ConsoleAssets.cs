using System.Collections.Frozen;

namespace Archestra.Gateway.WebConsole;

/// <summary>
/// The web console: static files embedded in the binary (WebConsole/wwwroot), served on the admin listener at <c>/</c>
/// and <c>/console/*</c>. The files hold no data; everything the page shows comes from the admin API with the key the
/// user typed, so serving them needs no key. Headers forbid inline script, framing and referrers.
/// </summary>
internal static class ConsoleAssets
{
    private const string Prefix = "console/";

    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, (byte[] Body, string ContentType)> s_files = Load();

    public static void Map(WebApplication app)
    {
        app.MapGet("/", (HttpContext http) => WriteAsync(http, "index.html"));
        app.MapGet("/console/{file}", (HttpContext http, string file) => WriteAsync(http, file));
    }

    private static Task WriteAsync(HttpContext http, string file)
    {
        var response = http.Response;
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers.CacheControl = "no-cache";
        if (!s_files.TryGetValue(file, out var asset))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            response.ContentType = "text/plain; charset=utf-8";
            return response.WriteAsync("not found\n");
        }

        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Body.Length;
        return response.Body.WriteAsync(asset.Body).AsTask();
    }

    private static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name[Prefix.Length..];
            files[file] = (
                copy.ToArray(),
                Path.GetExtension(file) switch
                {
                    ".html" => "text/html; charset=utf-8",
                    ".js" => "text/javascript; charset=utf-8",
                    ".css" => "text/css; charset=utf-8",
                    ".svg" => "image/svg+xml",
                    _ => "application/octet-stream",
                }
            );
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
