using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Metrics;

namespace Archestra.Gateway.Telemetry;

/// <summary>
/// The gateway's one <see cref="ActivitySource"/> and the OpenTelemetry instruments of the GenAI and MCP semantic
/// conventions (semantic-conventions-genai v0.1.0: gen-ai-spans.md, gen-ai-metrics.md, mcp.md; all "Development").
/// Both are named like the Prometheus meter (<see cref="GatewayMetrics.MeterName"/>), so one <c>AddSource</c> and
/// one <c>AddMeter</c> take everything. Without a listener <see cref="ActivitySource.StartActivity(string, ActivityKind)"/>
/// returns null and every instrument is disabled: the helpers check that first and do nothing else.
/// </summary>
internal static class ArchestraTelemetry
{
    public const string Name = GatewayMetrics.MeterName;

    public static readonly ActivitySource Source = new(Name, GatewayInfo.Version);

    public static readonly Meter Meter = new(Name, GatewayInfo.Version);

    /// <summary>gen-ai-metrics.md: the buckets the convention advises for token counts (powers of 4 up to 64 Mi).</summary>
    private static readonly long[] s_tokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    /// <summary>gen-ai-metrics.md: operation duration buckets (10 ms doubling up to 82 s).</summary>
    private static readonly double[] s_operationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

    /// <summary>mcp.md: the buckets advised for MCP operation durations.</summary>
    private static readonly double[] s_mcpBuckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

    public static readonly Histogram<long> TokenUsage = Meter.CreateHistogram(
        "gen_ai.client.token.usage",
        "{token}",
        "Number of input and output tokens used.",
        tags: null,
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = s_tokenBuckets }
    );

    public static readonly Histogram<double> OperationDuration = Meter.CreateHistogram(
        "gen_ai.client.operation.duration",
        "s",
        "GenAI operation duration.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_operationBuckets }
    );

    public static readonly Histogram<double> McpServerDuration = Meter.CreateHistogram(
        "mcp.server.operation.duration",
        "s",
        "MCP request duration as observed on the receiver from the time it was received until the result was sent.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_mcpBuckets }
    );

    public static readonly Histogram<double> McpClientDuration = Meter.CreateHistogram(
        "mcp.client.operation.duration",
        "s",
        "MCP request duration as observed on the sender from the time it was sent until the response was received.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_mcpBuckets }
    );

    /// <summary>The activity when it is one of ours and records attributes; null otherwise (nothing to do).</summary>
    public static Activity? Recording(Activity? activity, string operation) =>
        activity is { IsAllDataRequested: true } a && ReferenceEquals(a.Source, Source) && ReferenceEquals(a.OperationName, operation) ? a : null;

    /// <summary>The MCP endpoint's server span (its hooks live in Mcp/McpTelemetry; the metrics and the JSON-RPC writer report to it here).</summary>
    public const string McpServerOperation = "archestra.mcp.server";

    /// <summary>Tool results and arguments, prompts and answers captured (when a profile opts in) are cut here: spans are not a payload store.</summary>
    internal const int MaxContentChars = 8192;

    /// <summary>The request's outcome label (the one the Prometheus metrics get); anything but ok marks the MCP span failed.</summary>
    public static void Outcome(string outcome)
    {
        if (Recording(Activity.Current, McpServerOperation) is not { } activity)
        {
            return;
        }

        activity.SetTag(Attributes.Outcome, outcome);
        if (outcome is not "ok" && activity.GetTagItem(Attributes.ErrorType) is null)
        {
            // mcp.md: a CallToolResult with isError is "tool_error"; a policy refusal is one too, named by the outcome.
            Fail(activity, outcome is "error" ? "tool_error" : outcome, outcome);
        }
    }

    /// <summary>A JSON-RPC error the gateway answers an MCP request with.</summary>
    public static void ErrorCode(int code, string message)
    {
        if (Recording(Activity.Current, McpServerOperation) is { } activity)
        {
            SetErrorCode(activity, code.ToString(CultureInfo.InvariantCulture), message);
        }
    }

    /// <summary>mcp.md: the JSON-RPC error code as <c>rpc.response.status_code</c> and <c>error.type</c>.</summary>
    public static void SetErrorCode(Activity activity, string code, string? message)
    {
        activity.SetTag(Attributes.RpcStatusCode, code);
        activity.SetTag(Attributes.JsonRpcErrorCode, code);
        Fail(activity, code, message);
    }

    /// <summary>JSON content for a span attribute, cut to <see cref="MaxContentChars"/>.</summary>
    internal static string Content(ReadOnlySpan<byte> json)
    {
        var text = Encoding.UTF8.GetString(json.Length > MaxContentChars * 4 ? json[..(MaxContentChars * 4)] : json);
        return text.Length <= MaxContentChars ? text : text[..MaxContentChars];
    }

    /// <summary><c>profiles.NAME.telemetry.captureContent</c>.</summary>
    internal static bool CapturesContent(GatewayConfig config, string profile)
    {
        foreach (var p in config.Profiles)
        {
            if (p.Name == profile)
            {
                return p.CaptureContent;
            }
        }

        return false;
    }

    /// <summary>Marks the span failed (OpenTelemetry "Recording errors": status ERROR with <c>error.type</c>).</summary>
    public static void Fail(Activity activity, string errorType, string? description)
    {
        activity.SetTag(Attributes.ErrorType, errorType);
        activity.SetStatus(ActivityStatusCode.Error, description);
    }
}

/// <summary>Attribute names, as the conventions spell them; <c>archestra.*</c> for what they do not cover.</summary>
internal static class Attributes
{
    public const string ErrorType = "error.type";
    public const string McpMethod = "mcp.method.name";
    public const string McpProtocolVersion = "mcp.protocol.version";
    public const string McpSessionId = "mcp.session.id";
    public const string McpResourceUri = "mcp.resource.uri";
    public const string JsonRpcRequestId = "jsonrpc.request.id";
    public const string RpcStatusCode = "rpc.response.status_code";

    /// <summary>The name the conventions used before they moved to the GenAI repository; kept for existing dashboards.</summary>
    public const string JsonRpcErrorCode = "rpc.jsonrpc.error_code";
    public const string NetworkTransport = "network.transport";
    public const string NetworkProtocolName = "network.protocol.name";
    public const string ServerAddress = "server.address";
    public const string ServerPort = "server.port";
    public const string OperationName = "gen_ai.operation.name";
    public const string ToolName = "gen_ai.tool.name";
    public const string ToolArguments = "gen_ai.tool.call.arguments";
    public const string ToolResult = "gen_ai.tool.call.result";
    public const string PromptName = "gen_ai.prompt.name";
    public const string Provider = "gen_ai.provider.name";
    public const string RequestModel = "gen_ai.request.model";
    public const string ResponseModel = "gen_ai.response.model";
    public const string InputTokens = "gen_ai.usage.input_tokens";
    public const string OutputTokens = "gen_ai.usage.output_tokens";
    public const string CachedInputTokens = "gen_ai.usage.cache_read.input_tokens";
    public const string ReasoningTokens = "gen_ai.usage.reasoning.output_tokens";
    public const string FinishReasons = "gen_ai.response.finish_reasons";
    public const string TokenType = "gen_ai.token.type";
    public const string TimeToFirstChunk = "gen_ai.response.time_to_first_chunk";
    public const string InputMessages = "gen_ai.input.messages";
    public const string Profile = "archestra.profile";
    public const string Server = "archestra.server";
    public const string Outcome = "archestra.outcome";
    public const string AgentId = "archestra.agent.id";
    public const string SessionId = "archestra.session.id";
    public const string Decision = "archestra.policy.decision";
    public const string PolicyId = "archestra.policy.id";
    public const string LlmProvider = "archestra.llm.provider";
    public const string Attempt = "archestra.attempt";
    public const string Key = "archestra.key.name";
    public const string Role = "archestra.dual_llm.role";
    public const string HttpStatus = "http.response.status_code";
}
