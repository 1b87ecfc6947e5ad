using System.Diagnostics;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Telemetry;

/// <summary>
/// W3C Trace Context (<c>traceparent</c>, <c>tracestate</c>) and Baggage read from a request: the MCP request's
/// <c>params._meta</c> first (mcp.md, "Context propagation": the message's own context), else the HTTP headers.
/// Archestra's correlation headers become span attributes.
/// </summary>
internal static class TraceContext
{
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";
    public const string Baggage = "baggage";
    public const string AgentHeader = "X-Archestra-Agent-Id";
    public const string SessionHeader = "X-Archestra-Session-Id";

    /// <summary>W3C Baggage limits: 64 members, 8192 bytes; more is ignored, never an error.</summary>
    private const int MaxBaggageMembers = 64;
    private const int MaxBaggageLength = 8192;

    /// <summary>Correlation ids longer than this are cut: they are labels, not payloads.</summary>
    private const int MaxCorrelationLength = 256;

    /// <summary>The remote parent: from <paramref name="meta"/> (an MCP <c>_meta</c> object) when it carries one, else the headers.</summary>
    public static ActivityContext Parent(HttpRequest request, ReadOnlySpan<byte> meta)
    {
        if (!meta.IsEmpty && JsonObjectScan.GetString(meta, "traceparent"u8) is { } fromMeta)
        {
            var state = JsonObjectScan.GetString(meta, "tracestate"u8);
            if (ActivityContext.TryParse(fromMeta, state, isRemote: true, out var parsed))
            {
                return parsed;
            }
        }

        var headers = request.Headers;
        var parent = headers[TraceParent];
        return parent.Count == 1 && ActivityContext.TryParse(parent[0], headers[TraceState].ToString(), isRemote: true, out var context) ? context : default;
    }

    /// <summary>Copies the request's baggage (from <c>_meta</c>, else the header) and correlation headers onto the span.</summary>
    public static void Annotate(Activity activity, HttpRequest request, ReadOnlySpan<byte> meta)
    {
        var headers = request.Headers;
        var baggage = meta.IsEmpty ? null : JsonObjectScan.GetString(meta, "baggage"u8);
        AddBaggage(activity, baggage ?? (headers[Baggage] is { Count: > 0 } b ? b.ToString() : null));
        if (headers[AgentHeader] is { Count: > 0 } agent)
        {
            activity.SetTag(Attributes.AgentId, Bounded(agent.ToString()));
        }

        if (headers[SessionHeader] is { Count: > 0 } session)
        {
            activity.SetTag(Attributes.SessionId, Bounded(session.ToString()));
        }
    }

    private static string Bounded(string value) => value.Length <= MaxCorrelationLength ? value : value[..MaxCorrelationLength];

    /// <summary>Parses <c>key=value</c> members (properties after <c>;</c> dropped), percent-decoded, within the W3C limits.</summary>
    internal static void AddBaggage(Activity activity, string? header)
    {
        if (string.IsNullOrEmpty(header) || header.Length > MaxBaggageLength)
        {
            return;
        }

        var members = 0;
        foreach (var range in header.AsSpan().Split(','))
        {
            var member = header.AsSpan(range);
            var semi = member.IndexOf(';');
            if (semi >= 0)
            {
                member = member[..semi];
            }

            var eq = member.IndexOf('=');
            if (eq <= 0 || ++members > MaxBaggageMembers)
            {
                continue;
            }

            var key = member[..eq].Trim();
            if (key.IsEmpty)
            {
                continue;
            }

            activity.AddBaggage(key.ToString(), Uri.UnescapeDataString(member[(eq + 1)..].Trim().ToString()));
        }
    }

    /// <summary>The <c>traceparent</c> value of a span (version 00, W3C Trace Context level 1).</summary>
    public static string Format(Activity activity) =>
        string.Concat("00-", activity.TraceId.ToHexString(), "-", activity.SpanId.ToHexString(), activity.Recorded ? "-01" : "-00");
}

/// <summary>
/// The propagator HttpClient uses to write <c>traceparent</c>, <c>tracestate</c> and <c>baggage</c>: the context of the
/// nearest Archestra span. HttpClient starts its own <c>System.Net.Http.HttpRequestOut</c> activity under ours, which
/// nobody exports; naming it as the parent would leave the provider's or the MCP server's span hanging from a span
/// that is never seen.
/// </summary>
internal sealed class ArchestraPropagator : DistributedContextPropagator
{
    private static readonly DistributedContextPropagator s_w3c = CreateW3CPropagator();

    public override IReadOnlyCollection<string> Fields => s_w3c.Fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        var ours = activity;
        while (ours is not null && !ReferenceEquals(ours.Source, ArchestraTelemetry.Source))
        {
            ours = ours.Parent;
        }

        // Outside any Archestra span (a library's own activity) the usual W3C behaviour stays.
        s_w3c.Inject(ours ?? activity, carrier, setter);
    }

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState) =>
        s_w3c.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) =>
        s_w3c.ExtractBaggage(carrier, getter);
}
