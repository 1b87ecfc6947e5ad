using System.Net;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Security;

internal enum GuardVerdict
{
    Allowed,
    ForbiddenOrigin,
    ForbiddenHost,
    Unauthorized,
}

/// <summary>
/// DNS-rebinding protection and bearer authentication for the MCP endpoint (the Origin and Host checks also guard
/// the LLM proxy and the admin listener). The MCP spec
/// (Transports, "Security Warning") requires validating Origin; on a loopback listener the Host
/// header is checked too, because a rebinding attack reaches 127.0.0.1 under a foreign host name.
/// </summary>
internal sealed class RequestGuard
{
    private readonly HashSet<string> _origins;
    private readonly bool _anyOrigin;
    private readonly HashSet<string> _hosts;

    public RequestGuard(SecurityConfig config)
    {
        _origins = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var origin in config.AllowedOrigins)
        {
            if (origin == "*")
            {
                _anyOrigin = true;
            }
            else
            {
                _origins.Add(origin.TrimEnd('/'));
            }
        }

        _hosts = new HashSet<string>(config.AllowedHosts, StringComparer.OrdinalIgnoreCase);
    }

    public GuardVerdict Check(HttpContext context, IBearerProfile profile)
    {
        var verdict = CheckOrigin(context);
        if (verdict != GuardVerdict.Allowed)
        {
            return verdict;
        }

        var headers = context.Request.Headers;

        if (profile.RequiresToken)
        {
            var authorization = headers.Authorization.ToString();
            const string scheme = "Bearer ";
            if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || !profile.AcceptsToken(authorization.AsSpan(scheme.Length).Trim()))
            {
                return GuardVerdict.Unauthorized;
            }
        }

        return GuardVerdict.Allowed;
    }

    /// <summary>The Origin and Host checks alone (the LLM proxy authenticates with its own keys).</summary>
    public GuardVerdict CheckOrigin(HttpContext context)
    {
        var origin = context.Request.Headers.Origin;
        if (origin.Count > 0 && !OriginAllowed(origin.ToString()))
        {
            return GuardVerdict.ForbiddenOrigin;
        }

        var local = context.Connection.LocalIpAddress;
        if (local is not null && IPAddress.IsLoopback(local) && !HostAllowed(context.Request.Host.Host))
        {
            return GuardVerdict.ForbiddenHost;
        }

        return GuardVerdict.Allowed;
    }

    /// <summary>Why <see cref="CheckOrigin"/> refused, for the answer (403) on every listener that uses it.</summary>
    public static string Refusal(HttpContext context, GuardVerdict verdict) =>
        verdict == GuardVerdict.ForbiddenOrigin
            ? $"Origin '{context.Request.Headers.Origin}' is not allowed; add it to security.allowedOrigins."
            : $"Host '{context.Request.Host.Host}' is not allowed on a loopback listener; add it to security.allowedHosts.";

    /// <summary>
    /// Sets the Bearer challenge (RFC 6750 §3: <c>invalid_token</c> when a token was sent) for a request
    /// <see cref="Check"/> found unauthorized, and returns why, for the caller's own error format.
    /// </summary>
    public static string Challenge(HttpContext context, IBearerProfile profile)
    {
        var hasHeader = context.Request.Headers.Authorization.Count > 0;
        context.Response.Headers.WWWAuthenticate = hasHeader ? "Bearer realm=\"archestra\", error=\"invalid_token\"" : "Bearer realm=\"archestra\"";
        return hasHeader ? $"Invalid token for profile '{profile.Name}'." : $"Profile '{profile.Name}' requires Authorization: Bearer <token>.";
    }

    private bool OriginAllowed(string origin)
    {
        if (_anyOrigin || _origins.Contains(origin.TrimEnd('/')))
        {
            return true;
        }

        return Uri.TryCreate(origin, UriKind.Absolute, out var uri) && IsLoopbackName(uri.Host);
    }

    private bool HostAllowed(string host) => host.Length == 0 || IsLoopbackName(host) || _hosts.Contains(host);

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host == "127.0.0.1" || host == "[::1]" || host == "::1";
}
