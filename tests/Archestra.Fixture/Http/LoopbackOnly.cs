using Microsoft.AspNetCore.Http;

namespace Archestra.Fixture.Http;

/// <summary>
/// DNS-rebinding protection for a server on loopback (MCP transports spec, "Security Warning";
/// the dns-rebinding-protection scenario): a page on evil.example that resolves to 127.0.0.1
/// still sends its own name in Host and Origin, so both must name the loopback interface.
/// </summary>
internal static class LoopbackOnly
{
    public static async Task FilterAsync(HttpContext context, RequestDelegate next)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (!IsLoopbackName(context.Request.Host.Host) || (origin.Length > 0 && !IsLoopbackOrigin(origin)))
        {
            await JsonRpcErrors
                .WriteAsync(
                    context,
                    StatusCodes.Status403Forbidden,
                    JsonRpcErrors.ServerError,
                    "Forbidden: Host and Origin must name localhost, 127.0.0.1 or [::1]"
                )
                .ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    private static bool IsLoopbackOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && IsLoopbackName(uri.Host);

    private static bool IsLoopbackName(string host) => host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host is "127.0.0.1" or "[::1]" or "::1";
}
