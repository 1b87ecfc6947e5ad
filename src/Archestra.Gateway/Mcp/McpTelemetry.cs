using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Telemetry;
using Archestra.Policy;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>What the MCP endpoint's server span needs at its end: the span (null when not sampled) and the metric's labels.</summary>
internal readonly record struct McpServerScope(Activity? Activity, long Started, string Method, string? Tool);

/// <summary>
/// The MCP spans (mcp.md): a SERVER span per request the gateway answers, named <c>{mcp.method.name} {target}</c>, with
/// the invocation policy's decision as an event, and a CLIENT span per exchange with an upstream server, whose context
/// goes upstream in <c>params._meta.traceparent</c> (and, over HTTP, in the <c>traceparent</c> header).
/// </summary>
internal static class McpTelemetry
{
    public const string ServerOperation = ArchestraTelemetry.McpServerOperation;
    public const string ClientOperation = "archestra.mcp.client";

    /// <summary>Method names are protocol constants; anything longer is not one and is not worth a label.</summary>
    private const int MaxMethodBytes = 64;

    /// <summary>True when a span or the duration metric would be recorded; otherwise the endpoint skips all of this.</summary>
    public static bool Enabled => ArchestraTelemetry.Source.HasListeners() || ArchestraTelemetry.McpServerDuration.Enabled;

    /// <summary>Starts the server span of a POST whose body is a JSON-RPC request; the scope of anything else has no span.</summary>
    public static McpServerScope StartServer(HttpContext context, string profile, GatewayConfig config, ReadOnlySpan<byte> body)
    {
        var started = Stopwatch.GetTimestamp();
        if (JsonRpcEnvelope.TryParse(body, out var env) != JsonRpcParseError.None || !env.IsRequest || env.MethodEscaped || env.Method.Length > MaxMethodBytes)
        {
            return new McpServerScope(null, started, "", null);
        }

        var method = Encoding.UTF8.GetString(env.Method.Of(body));
        var target = Unquoted(body, env.ParamsName);
        var meta = env.Meta.Of(body);
        var activity = ArchestraTelemetry.Source.StartActivity(
            ServerOperation,
            ActivityKind.Server,
            TraceContext.Parent(context.Request, meta.IsEmpty || meta[0] != (byte)'{' ? default : meta)
        );
        var isToolCall = env.MethodIs(body, McpMethods.ToolsCall);
        if (activity is null)
        {
            return new McpServerScope(null, started, method, isToolCall ? target : null);
        }

        activity.DisplayName = target is null ? method : string.Concat(method, " ", target);
        if (activity.IsAllDataRequested)
        {
            activity.SetTag(Attributes.McpMethod, method);
            activity.SetTag(Attributes.Profile, profile);
            activity.SetTag(Attributes.NetworkTransport, "tcp");
            activity.SetTag(Attributes.NetworkProtocolName, "http");
            activity.SetTag(Attributes.JsonRpcRequestId, Unquoted(body, env.Id) ?? Encoding.UTF8.GetString(env.Id.Of(body)));
            if (isToolCall)
            {
                activity.SetTag(Attributes.OperationName, "execute_tool");
                activity.SetTag(Attributes.ToolName, target);
                if (ArchestraTelemetry.CapturesContent(config, profile) && !env.Arguments.IsEmpty)
                {
                    activity.SetTag(Attributes.ToolArguments, ArchestraTelemetry.Content(env.Arguments.Of(body)));
                }
            }
            else if (env.MethodIs(body, McpMethods.PromptsGet))
            {
                activity.SetTag(Attributes.PromptName, target);
            }
            else if (JsonObjectScan.ReadString(body, env.ParamsUri) is { } uri)
            {
                activity.SetTag(Attributes.McpResourceUri, uri);
            }

            var headers = context.Request.Headers;
            var version = headers[McpHeaders.ProtocolVersion] is { Count: 1 } v ? v[0] : JsonObjectScan.ReadString(body, env.MetaProtocolVersion);
            if (version is { Length: > 0 and <= 32 })
            {
                activity.SetTag(Attributes.McpProtocolVersion, version);
            }

            if (headers[McpHeaders.SessionId] is { Count: 1 } session && session[0] is { Length: > 0 } id)
            {
                activity.SetTag(Attributes.McpSessionId, HashedSessionId(id));
            }

            TraceContext.Annotate(activity, context.Request, meta.IsEmpty || meta[0] != (byte)'{' ? default : meta);
        }

        return new McpServerScope(activity, started, method, isToolCall ? target : null);
    }

    /// <summary>Ends the server span and records <c>mcp.server.operation.duration</c>.</summary>
    public static void StopServer(in McpServerScope scope)
    {
        var activity = scope.Activity;
        string? errorType = null;
        if (activity is not null)
        {
            errorType = activity.GetTagItem(Attributes.ErrorType) as string;
            activity.Stop();
        }

        var duration = ArchestraTelemetry.McpServerDuration;
        if (duration.Enabled && scope.Method.Length > 0)
        {
            var tags = new TagList { { Attributes.McpMethod, scope.Method } };
            if (scope.Tool is not null)
            {
                tags.Add(Attributes.ToolName, scope.Tool);
            }

            if (errorType is not null)
            {
                tags.Add(Attributes.ErrorType, errorType);
            }

            duration.Record(Stopwatch.GetElapsedTime(scope.Started).TotalSeconds, tags);
        }
    }

    /// <summary>The invocation policy's decision on a tools/call, as a span event.</summary>
    public static void Decision(in InvocationDecision decision, string server)
    {
        if (ArchestraTelemetry.Recording(Activity.Current, ServerOperation) is not { } activity)
        {
            return;
        }

        activity.SetTag(Attributes.Server, server);
        var verdict = decision.Verdict switch
        {
            InvocationVerdict.Allow => "allow",
            InvocationVerdict.RequireApproval => "require_approval",
            _ => "block",
        };
        var tags = new ActivityTagsCollection { [Attributes.Decision] = verdict, ["archestra.policy.source"] = decision.Source.ToString() };
        if (decision.PolicyId is { } id)
        {
            tags[Attributes.PolicyId] = id;
        }

        activity.AddEvent(new ActivityEvent("archestra.policy.decision", tags: tags));
    }

    /// <summary>Starts the client span of one exchange with <paramref name="server"/>; it becomes the current activity.</summary>
    public static void StartUpstream(UpstreamEntry server)
    {
        if (Activity.Current is not { } parent || !ReferenceEquals(parent.Source, ArchestraTelemetry.Source))
        {
            return;
        }

        var method = parent.GetTagItem(Attributes.McpMethod) as string ?? "";
        var activity = ArchestraTelemetry.Source.StartActivity(ClientOperation, ActivityKind.Client);
        if (activity is null)
        {
            return;
        }

        var tool = parent.GetTagItem(Attributes.ToolName) as string;
        if (
            tool is not null
            && tool.Length > server.Name.Length + 2
            && tool.StartsWith(server.Name, StringComparison.Ordinal)
            && tool.AsSpan(server.Name.Length).StartsWith("__")
        )
        {
            tool = tool[(server.Name.Length + 2)..];
        }

        activity.DisplayName = tool is null ? method : string.Concat(method, " ", tool);
        if (!activity.IsAllDataRequested)
        {
            return;
        }

        activity.SetTag(Attributes.McpMethod, method);
        activity.SetTag(Attributes.Server, server.Name);
        if (tool is not null)
        {
            activity.SetTag(Attributes.OperationName, "execute_tool");
            activity.SetTag(Attributes.ToolName, tool);
        }

        if (server.Upstream.Options is HttpUpstreamOptions http)
        {
            activity.SetTag(Attributes.NetworkTransport, "tcp");
            activity.SetTag(Attributes.NetworkProtocolName, "http");
            activity.SetTag(Attributes.ServerAddress, http.Url.Host);
            activity.SetTag(Attributes.ServerPort, http.Url.Port);
        }
        else
        {
            activity.SetTag(Attributes.NetworkTransport, "pipe");
        }

        if (server.Upstream.ProtocolVersion is { Length: > 0 } version)
        {
            activity.SetTag(Attributes.McpProtocolVersion, version);
        }
    }

    /// <summary>Ends the current client span with the exchange's result; a JSON-RPC error also marks the server span.</summary>
    public static void EndUpstream(in UpstreamCallResult result)
    {
        if (Activity.Current is not { } activity || !ReferenceEquals(activity.OperationName, ClientOperation))
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            if (!result.IsSuccess)
            {
                ArchestraTelemetry.Fail(activity, ErrorName(result.Error), result.Detail);
            }
            else if (result.Response is { Kind: JsonRpcKind.ErrorResponse } response)
            {
                var error = response.Envelope.Error.Of(response.Span);
                var code = JsonObjectScan.FindValue(error, "code"u8).Of(error);
                var text = code.Length is > 0 and <= 12 ? Encoding.UTF8.GetString(code) : "error";
                var message = JsonObjectScan.GetString(error, "message"u8);
                ArchestraTelemetry.SetErrorCode(activity, text, message);
                if (ArchestraTelemetry.Recording(activity.Parent, ServerOperation) is { } server)
                {
                    ArchestraTelemetry.SetErrorCode(server, text, message);
                }
            }
            else if (
                result.Response is { } answer
                && ArchestraTelemetry.Recording(activity.Parent, ServerOperation) is { } parent
                && parent.GetTagItem(Attributes.ToolArguments) is not null
            )
            {
                // The profile captures content (arguments were recorded): the result goes with them.
                parent.SetTag(Attributes.ToolResult, ArchestraTelemetry.Content(answer.Envelope.Result.Of(answer.Span)));
            }
        }

        activity.Stop();
        var duration = ArchestraTelemetry.McpClientDuration;
        if (duration.Enabled && activity.GetTagItem(Attributes.McpMethod) is string method)
        {
            var tags = new TagList { { Attributes.McpMethod, method } };
            if (activity.GetTagItem(Attributes.ErrorType) is string errorType)
            {
                tags.Add(Attributes.ErrorType, errorType);
            }

            duration.Record(activity.Duration.TotalSeconds, tags);
        }
    }

    private static string ErrorName(UpstreamError error) =>
        error switch
        {
            UpstreamError.Timeout => "timeout",
            UpstreamError.Cancelled => "cancelled",
            _ => error.ToString().ToLowerInvariant(),
        };

    /// <summary>
    /// Puts the current client span's <c>traceparent</c> into the request's <c>params._meta</c> (replacing one the client
    /// sent, else adding it), so the upstream server's span joins the trace (mcp.md, "Context propagation"). Only that
    /// one member changes: arguments and everything the policies read stay the bytes they judged. A request whose
    /// params or <c>_meta</c> is not an object is left as it is.
    /// </summary>
    public static void InjectMeta(ref byte[] buffer, ref int length)
    {
        if (Activity.Current is not { } activity || !ReferenceEquals(activity.OperationName, ClientOperation))
        {
            return;
        }

        var span = buffer.AsSpan(0, length);
        if (JsonRpcEnvelope.TryParseLenient(span, out var env) != JsonRpcParseError.None || !env.IsRequest)
        {
            return;
        }

        // "00-" 32 hex "-" 16 hex "-" 2 hex: 55 bytes.
        Span<byte> value = stackalloc byte[57];
        value[0] = (byte)'"';
        var written = Encoding.ASCII.GetBytes(TraceContext.Format(activity), value[1..]);
        value[written + 1] = (byte)'"';
        value = value[..(written + 2)];

        Slice range;
        ReadOnlySpan<byte> before,
            after;
        if (!env.Meta.IsEmpty)
        {
            if (span[env.Meta.Start] != (byte)'{')
            {
                return;
            }

            var meta = env.Meta.Of(span);
            var existing = JsonObjectScan.FindValue(meta, "traceparent"u8);
            if (!existing.IsEmpty)
            {
                range = new Slice(env.Meta.Start + existing.Start, existing.Length);
                before = default;
                after = default;
            }
            else
            {
                range = new Slice(env.Meta.Start + 1, 0);
                before = "\"traceparent\":"u8;
                after = IsEmptyObject(meta) ? default : ","u8;
            }
        }
        else if (!env.Params.IsEmpty && span[env.Params.Start] == (byte)'{')
        {
            range = new Slice(env.Params.Start + 1, 0);
            before = "\"_meta\":{\"traceparent\":"u8;
            after = IsEmptyObject(env.Params.Of(span)) ? "}"u8 : "},"u8;
        }
        else
        {
            return;
        }

        var result = BytePool.Rent(length + before.Length + value.Length + after.Length);
        span[..range.Start].CopyTo(result);
        var at = range.Start;
        before.CopyTo(result.AsSpan(at));
        at += before.Length;
        value.CopyTo(result.AsSpan(at));
        at += value.Length;
        after.CopyTo(result.AsSpan(at));
        at += after.Length;
        span[range.End..].CopyTo(result.AsSpan(at));
        at += length - range.End;
        BytePool.Return(buffer);
        buffer = result;
        length = at;
    }

    private static bool IsEmptyObject(ReadOnlySpan<byte> json) => json[1..].TrimStart(" \t\r\n"u8) is [(byte)'}', ..];

    /// <summary>A JSON string's content when it has no escapes (names, ids); null otherwise.</summary>
    private static string? Unquoted(ReadOnlySpan<byte> body, Slice slice)
    {
        if (slice.Length < 2 || body[slice.Start] != (byte)'"')
        {
            return null;
        }

        var inner = body.Slice(slice.Start + 1, slice.Length - 2);
        return inner.IndexOf((byte)'\\') >= 0 ? null : Encoding.UTF8.GetString(inner);
    }

    /// <summary>Session ids are bearer values: the span carries a digest that correlates them without revealing them.</summary>
    internal static string HashedSessionId(string id)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(id), hash);
        return Convert.ToHexStringLower(hash[..16]);
    }
}
