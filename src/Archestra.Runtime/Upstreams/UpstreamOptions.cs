using Archestra.Runtime.Protocol;

namespace Archestra.Runtime.Upstreams;

/// <summary>Settings shared by every upstream transport.</summary>
public abstract record UpstreamOptions
{
    public required string Name { get; init; }

    /// <summary>Per-call timeout. 60 s matches the MCP TypeScript SDK's default request timeout.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The capabilities the gateway declares to the upstream in initialize, as raw JSON. The gateway
    /// relays sampling, elicitation and roots requests to its clients, so it offers all three.
    /// </summary>
    public string ClientCapabilitiesJson { get; init; } = """{"roots":{"listChanged":true},"sampling":{},"elicitation":{}}""";

    public string ClientName { get; init; } = "archestra";

    public string ClientVersion { get; init; } = "0.1.0";

    /// <summary>The protocol revision offered to the upstream in initialize.</summary>
    public string ProtocolVersion { get; init; } = McpRevisions.LatestLegacy;
}

/// <summary>A local MCP server started as a child process speaking newline-delimited JSON-RPC on stdio.</summary>
public sealed record StdioUpstreamOptions : UpstreamOptions
{
    public required string Command { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>The complete extra environment; the child gets only this plus PATH and HOME.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public string? WorkingDirectory { get; init; }

    /// <summary>Lines of stderr kept for error messages. 200 lines is enough for a stack trace.</summary>
    public int StderrLines { get; init; } = 200;

    /// <summary>First restart delay; doubles per consecutive failure up to <see cref="MaxRestartDelay"/>.</summary>
    public TimeSpan InitialRestartDelay { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan MaxRestartDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>One JSON-RPC message (a stdout line) may not be longer: 64 MiB, the limit of one HTTP body or SSE event.</summary>
    public int MaxLineBytes { get; init; } = Http.UpstreamHttp.MaxMessageBytes;

    /// <summary>
    /// The part of a stderr line that is kept; the rest is dropped up to the newline. 16 KiB holds a minified stack
    /// trace (8× the 2,048 characters the stderr tail keeps of a line); a longer line is a dump, not a log message.
    /// </summary>
    public int MaxStderrLineBytes { get; init; } = 16 * 1024;
}

public enum HttpUpstreamTransport
{
    /// <summary>Streamable HTTP (MCP 2025-03-26 and later).</summary>
    StreamableHttp,

    /// <summary>The legacy HTTP+SSE transport (MCP 2024-11-05).</summary>
    Sse,
}

/// <summary>A remote MCP server reached over HTTP.</summary>
public sealed record HttpUpstreamOptions : UpstreamOptions
{
    public required Uri Url { get; init; }
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    public HttpUpstreamTransport Transport { get; init; } = HttpUpstreamTransport.StreamableHttp;

    /// <summary>Retries for safe calls (lists, reads, get) on connect failures and 5xx.</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>
    /// Base delay of the exponential backoff (with jitter) between retries and between reconnects of an
    /// SSE stream. 1 s matches the MCP TypeScript SDK's <c>initialReconnectionDelay</c>.
    /// </summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Circuit breaker: open after this failure ratio within <see cref="BreakerSamplingDuration"/>.</summary>
    public double BreakerFailureRatio { get; init; } = 0.5;
    public int BreakerMinimumThroughput { get; init; } = 10;
    public TimeSpan BreakerSamplingDuration { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan BreakerBreakDuration { get; init; } = TimeSpan.FromSeconds(5);
}
