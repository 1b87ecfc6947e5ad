using System.Diagnostics;
using System.Globalization;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Telemetry;
using Polly;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The LLM spans (gen-ai-spans.md, "Inference"): one SERVER span per generation request the proxy serves, named
/// <c>{gen_ai.operation.name} {gen_ai.request.model}</c>, with the usage, the response model, the time to the first
/// chunk, the finish reasons and each refused tool call as an event; under it a CLIENT span per attempt at the
/// provider (retries, key fallback) and per dual-LLM question and answer. HttpClient writes each CLIENT span's
/// <c>traceparent</c> to the provider (<see cref="ArchestraPropagator"/>). No prompt or completion unless the
/// profile captures content.
/// </summary>
internal static class LlmTelemetry
{
    public const string RequestOperation = "archestra.llm.request";
    public const string AttemptOperation = "archestra.llm.attempt";
    public const string SideCallOperation = "archestra.llm.dual";

    /// <summary>Finish reasons kept per span: one per choice, and requests rarely ask for more than a few.</summary>
    private const int MaxFinishReasons = 8;

    /// <summary>The longest finish reason read; the known ones are under 20 bytes.</summary>
    private const int MaxReasonBytes = 32;

    public static bool Enabled => ArchestraTelemetry.Source.HasListeners() || ArchestraTelemetry.OperationDuration.Enabled;

    /// <summary>The <c>gen_ai.provider.name</c> values of the conventions.</summary>
    public static string ProviderName(LlmProviderKind kind) =>
        kind switch
        {
            LlmProviderKind.Anthropic => "anthropic",
            LlmProviderKind.Gemini => "gcp.gemini",
            _ => "openai",
        };

    /// <summary>Starts the request's span (the current activity from here on); null when nobody records it.</summary>
    public static Activity? StartRequest(HttpContext context, string profile, LlmUpstream upstream)
    {
        var activity = ArchestraTelemetry.Source.StartActivity(RequestOperation, ActivityKind.Server, TraceContext.Parent(context.Request, default));
        if (activity is not { IsAllDataRequested: true })
        {
            return activity;
        }

        activity.DisplayName = "chat";
        activity.SetTag(Attributes.OperationName, "chat");
        activity.SetTag(Attributes.Provider, ProviderName(upstream.Kind));
        activity.SetTag(Attributes.LlmProvider, upstream.Name);
        activity.SetTag(Attributes.Profile, profile);
        TraceContext.Annotate(activity, context.Request, default);
        return activity;
    }

    /// <summary>Adds the request body as <c>gen_ai.input.messages</c> when the profile captures content.</summary>
    public static void RequestBody(GatewayConfig config, string profile, ReadOnlySpan<byte> body)
    {
        if (ArchestraTelemetry.Recording(Activity.Current, RequestOperation) is { } activity && ArchestraTelemetry.CapturesContent(config, profile))
        {
            activity.SetTag(Attributes.InputMessages, ArchestraTelemetry.Content(body));
        }
    }

    /// <summary>Stage 5 of an exchange or a dual-LLM call: the span's usage and outcome, and the GenAI metrics.</summary>
    public static void Recorded(in LlmProxy.Interaction x)
    {
        var elapsed = Stopwatch.GetElapsedTime(x.Start).TotalSeconds;
        var provider = ProviderName(x.Dialect.Kind);
        var usage = x.Scanner.Usage;
        var responseModel = x.Scanner.Model;
        var requestModel = x.RoutedModel ?? x.Model;
        var activity = Activity.Current;
        activity = ArchestraTelemetry.Recording(activity, RequestOperation) ?? ArchestraTelemetry.Recording(activity, SideCallOperation);
        if (activity is not null)
        {
            activity.DisplayName = requestModel.Length == 0 ? "chat" : string.Concat("chat ", requestModel);
            activity.SetTag(Attributes.RequestModel, requestModel);
            if (responseModel is not null)
            {
                activity.SetTag(Attributes.ResponseModel, responseModel);
            }

            if (usage.Seen)
            {
                activity.SetTag(Attributes.InputTokens, usage.TotalInput);
                activity.SetTag(Attributes.OutputTokens, usage.AllOutput);
                activity.SetTag(Attributes.CachedInputTokens, usage.Cached);
                activity.SetTag(Attributes.ReasoningTokens, usage.AllReasoning);
            }

            if (x.FirstToken is { } first)
            {
                activity.SetTag(Attributes.TimeToFirstChunk, Stopwatch.GetElapsedTime(x.Start, first).TotalSeconds);
            }

            activity.SetTag(Attributes.Outcome, x.Status);
            if (x.Status is not ("ok" or LlmProxy.SideCallOk))
            {
                ArchestraTelemetry.Fail(activity, x.Status, x.Error);
            }

            if (x.Guard is { Refused.Count: > 0 } guard)
            {
                foreach (var refusal in guard.Refused)
                {
                    activity.AddEvent(new ActivityEvent("archestra.tool_call.refused", tags: RefusalTags(refusal)));
                }
            }
        }

        var duration = ArchestraTelemetry.OperationDuration;
        if (duration.Enabled)
        {
            var tags = new TagList
            {
                { Attributes.OperationName, "chat" },
                { Attributes.Provider, provider },
                { Attributes.RequestModel, requestModel },
            };
            if (responseModel is not null)
            {
                tags.Add(Attributes.ResponseModel, responseModel);
            }

            if (x.Status is not ("ok" or LlmProxy.SideCallOk))
            {
                tags.Add(Attributes.ErrorType, x.Status);
            }

            duration.Record(elapsed, tags);
        }

        var tokens = ArchestraTelemetry.TokenUsage;
        if (tokens.Enabled && usage.Seen)
        {
            var tags = new TagList
            {
                { Attributes.OperationName, "chat" },
                { Attributes.Provider, provider },
                { Attributes.RequestModel, requestModel },
                { Attributes.TokenType, "input" },
            };
            if (responseModel is not null)
            {
                tags.Add(Attributes.ResponseModel, responseModel);
            }

            tokens.Record(usage.TotalInput, tags);
            tags[3] = new KeyValuePair<string, object?>(Attributes.TokenType, "output");
            tokens.Record(usage.AllOutput, tags);
        }
    }

    /// <summary>The guard's "TOOL (why)" entries (why: <c>policy ID</c>, <c>default</c>, ...) as event attributes.</summary>
    private static ActivityTagsCollection RefusalTags(string refusal)
    {
        var open = refusal.LastIndexOf(" (", StringComparison.Ordinal);
        if (open < 0 || !refusal.EndsWith(')'))
        {
            return new ActivityTagsCollection { [Attributes.ToolName] = refusal };
        }

        var why = refusal[(open + 2)..^1];
        var tags = new ActivityTagsCollection { [Attributes.ToolName] = refusal[..open], ["archestra.refusal.reason"] = why };
        if (why.StartsWith("policy ", StringComparison.Ordinal))
        {
            tags[Attributes.PolicyId] = why["policy ".Length..];
        }

        return tags;
    }

    /// <summary>
    /// Reads the finish reasons of one answer document or stream event (<c>finish_reason</c>, <c>stop_reason</c>,
    /// <c>finishReason</c>) when the request's span records; nothing else is read from the content.
    /// </summary>
    public static void Answer(ReadOnlySpan<byte> json)
    {
        if (Activity.Current is null || ArchestraTelemetry.Recording(Activity.Current, RequestOperation) is not { } activity)
        {
            return;
        }

        FindReasons(activity, json, "\"finish_reason\":"u8);
        FindReasons(activity, json, "\"stop_reason\":"u8);
        FindReasons(activity, json, "\"finishReason\":"u8);
    }

    private static void FindReasons(Activity activity, ReadOnlySpan<byte> json, ReadOnlySpan<byte> name)
    {
        var rest = json;
        int at;
        while ((at = rest.IndexOf(name)) >= 0)
        {
            rest = rest[(at + name.Length)..].TrimStart(" \t\r\n"u8);
            if (rest.IsEmpty || rest[0] != (byte)'"')
            {
                continue;
            }

            var end = rest[1..].IndexOf((byte)'"');
            if (end is <= 0 or > MaxReasonBytes)
            {
                continue;
            }

            AddReason(activity, Encoding.UTF8.GetString(rest.Slice(1, end)));
            rest = rest[(end + 2)..];
        }
    }

    private static void AddReason(Activity activity, string reason)
    {
        var reasons = activity.GetTagItem(Attributes.FinishReasons) as string[] ?? [];
        if (reasons.Length >= MaxFinishReasons || Array.IndexOf(reasons, reason) >= 0)
        {
            return;
        }

        activity.SetTag(Attributes.FinishReasons, (string[])[.. reasons, reason]);
    }

    /// <summary>Starts one attempt's CLIENT span (the current activity until <see cref="EndAttempt"/>).</summary>
    public static void StartAttempt(int attempt, string key)
    {
        if (ArchestraTelemetry.Recording(Activity.Current, RequestOperation) is not { } parent)
        {
            return;
        }

        var activity = ArchestraTelemetry.Source.StartActivity(AttemptOperation, ActivityKind.Client);
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.DisplayName = string.Concat("attempt ", attempt.ToString(CultureInfo.InvariantCulture));
        activity.SetTag(Attributes.Attempt, attempt);
        activity.SetTag(Attributes.Key, key);
        activity.SetTag(Attributes.Provider, parent.GetTagItem(Attributes.Provider));
    }

    /// <summary>Ends the current attempt span with its HTTP status or the failure that ended it.</summary>
    public static void EndAttempt(in Outcome<HttpResponseMessage> outcome)
    {
        if (Activity.Current is not { } activity || !ReferenceEquals(activity.OperationName, AttemptOperation))
        {
            return;
        }

        if (outcome.Result is { } response)
        {
            var status = (int)response.StatusCode;
            activity.SetTag(Attributes.HttpStatus, status);
            if (status >= 400)
            {
                ArchestraTelemetry.Fail(activity, status.ToString(CultureInfo.InvariantCulture), null);
            }
        }
        else if (outcome.Exception is { } exception)
        {
            ArchestraTelemetry.Fail(activity, exception is OperationCanceledException ? "timeout" : exception.GetType().Name, null);
        }

        activity.Stop();
    }

    /// <summary>Starts a dual-LLM question or answer call's CLIENT span; dispose it when the call is recorded.</summary>
    public static Activity? StartSideCall(string role, LlmUpstream upstream, string model)
    {
        if (Activity.Current is null)
        {
            return null;
        }

        var activity = ArchestraTelemetry.Source.StartActivity(SideCallOperation, ActivityKind.Client);
        if (activity is not { IsAllDataRequested: true })
        {
            return activity;
        }

        activity.DisplayName = string.Concat("chat ", model);
        activity.SetTag(Attributes.OperationName, "chat");
        activity.SetTag(Attributes.Role, role);
        activity.SetTag(Attributes.Provider, ProviderName(upstream.Kind));
        activity.SetTag(Attributes.LlmProvider, upstream.Name);
        activity.SetTag(Attributes.RequestModel, model);
        return activity;
    }

    /// <summary>Whether a client header is a trace header the proxy writes itself while a span is current.</summary>
    public static bool Replaces(string header) =>
        Activity.Current is not null
        && (
            header.Equals(TraceContext.TraceParent, StringComparison.OrdinalIgnoreCase)
            || header.Equals(TraceContext.TraceState, StringComparison.OrdinalIgnoreCase)
            || header.Equals(TraceContext.Baggage, StringComparison.OrdinalIgnoreCase)
        );
}
