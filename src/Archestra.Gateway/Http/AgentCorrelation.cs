namespace Archestra.Gateway.Http;

/// <summary>
/// The correlation headers an agent sends with its MCP and LLM requests: <c>X-Archestra-Agent-Id</c> (which agent) and
/// <c>X-Archestra-Session-Id</c> (which conversation, across MCP sessions and LLM calls). They land in the audit rows
/// (filterable in <c>/api/audit/*</c>) and on the request's span. Values are checked, not cleaned: 1 to
/// <see cref="MaxLength"/> visible ASCII characters, one value per header, so what is stored is what was sent.
/// </summary>
internal readonly record struct AgentCorrelation(string? AgentId, string? SessionId)
{
    public const string AgentHeader = "X-Archestra-Agent-Id";

    public const string SessionHeader = "X-Archestra-Session-Id";

    public const int MaxLength = 128;

    /// <summary>The request's correlation values; call <see cref="Check"/> first (this one does not validate).</summary>
    public static AgentCorrelation Of(HttpRequest request)
    {
        var headers = request.Headers;
        var agent = headers[AgentHeader];
        var session = headers[SessionHeader];
        return agent.Count == 0 && session.Count == 0
            ? default
            : new AgentCorrelation(agent.Count == 1 ? agent[0] : null, session.Count == 1 ? session[0] : null);
    }

    /// <summary>Null when both headers are absent or valid; otherwise a message naming the header and what it must be.</summary>
    public static string? Check(HttpRequest request)
    {
        var headers = request.Headers;
        return Check(headers[AgentHeader], AgentHeader) ?? Check(headers[SessionHeader], SessionHeader);
    }

    private static string? Check(Microsoft.Extensions.Primitives.StringValues values, string name)
    {
        if (values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1)
        {
            return $"{name} was sent {values.Count} times; send it once.";
        }

        var value = values[0] ?? "";
        if (value.Length is 0 or > MaxLength)
        {
            return $"{name} must be 1 to {MaxLength} characters long (got {value.Length}).";
        }

        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return $"{name} may hold only visible ASCII characters (no spaces or control characters).";
            }
        }

        return null;
    }
}
