using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Core;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// tools/call of an <c>archestra__</c> tool (<see cref="BuiltinTools"/>): answered here, never forwarded, outside policy, and
/// audited and counted like any other call (server <c>archestra</c>).
/// </summary>
internal sealed partial class McpEndpoint
{
    private const string BuiltinServer = "archestra";

    private async Task CallBuiltinAsync(
        HttpContext context,
        GatewayProfile profile,
        McpSession? session,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        AcceptedTypes accepts,
        string name
    )
    {
        var started = Stopwatch.GetTimestamp();
        var rawId = env.Id.Of(body.AsSpan(0, length)).ToArray();
        var tool = name[BuiltinTools.Prefix.Length..];
        if (profile.Config.BuiltinTools == BuiltinToolsMode.Off || name is not (BuiltinTools.Whoami or BuiltinTools.Explain or BuiltinTools.SearchTools))
        {
            _gateway.Metrics.RecordToolCall(profile.Name, "_none", "_unknown", "unknown_tool", 0);
            var known = profile.Config.BuiltinTools == BuiltinToolsMode.Off ? "profile '" + profile.Name + "' has builtinTools off" : "no such built-in tool";
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, $"Unknown tool '{name}': {known}."),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var arguments = env.Arguments.IsEmpty ? "{}"u8.ToArray() : env.Arguments.Of(body.AsSpan(0, length)).ToArray();
        var policies = _gateway.Policies.ForProfile(profile.Name);
        await RefreshSharedTrustAsync(session, policies, context.RequestAborted).ConfigureAwait(false);
        var trusted = session?.Trust.IsTrusted ?? !accepts.Modern;
        var buffer = new ArrayBufferWriter<byte>(1024);
        string? error;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(arguments);
        }
        catch (JsonException)
        {
            // Valid JSON (the envelope was checked) nested deeper than JsonDocument reads: no built-in takes such arguments.
            document = JsonDocument.Parse("null"u8.ToArray());
        }

        using (document)
        using (var w = new Utf8JsonWriter(buffer))
        {
            var args = document.RootElement;
            error = name switch
            {
                BuiltinTools.Whoami => WriteWhoami(w, profile, session, accepts),
                BuiltinTools.Explain => WriteExplanation(w, profile, policies, args, trusted),
                _ => await WriteSearchAsync(w, profile, policies, args, trusted).ConfigureAwait(false),
            };
        }

        var text = error ?? Encoding.UTF8.GetString(buffer.WrittenSpan);
        var result = error is not null
            ? ToolErrorResult(rawId, error, accepts.Modern)
            : JsonRpcWriter.Result(rawId, (text, buffer, accepts.Modern), static (w, state) =>
            {
                w.WriteStartObject();
                if (state.Modern)
                {
                    w.WriteString("resultType"u8, "complete"u8);
                }

                w.WriteStartArray("content"u8);
                w.WriteStartObject();
                w.WriteString("type"u8, "text"u8);
                w.WriteString("text"u8, state.text);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WritePropertyName("structuredContent"u8);
                w.WriteRawValue(state.buffer.WrittenSpan, skipInputValidation: true);
                w.WriteBoolean("isError"u8, false);
                w.WriteEndObject();
            });
        var outcome = error is null ? "ok" : "error";
        var elapsed = Stopwatch.GetElapsedTime(started);
        _gateway.Metrics.RecordToolCall(profile.Name, BuiltinServer, tool, outcome, elapsed.TotalSeconds);
        var call = new ToolCallLabels(profile.Name, BuiltinServer, tool, name, policies);
        RecordCall(call, session, outcome, elapsed, length, result.Length, error, arguments);
        await WriteMessageAsync(context, result, session, accepts.PreferSse).ConfigureAwait(false);
    }

    private static string? WriteWhoami(Utf8JsonWriter w, GatewayProfile profile, McpSession? session, AcceptedTypes accepts)
    {
        w.WriteStartObject();
        w.WriteString("profile"u8, profile.Name);
        w.WriteString("protocolVersion"u8, accepts.Modern ? McpRevisions.LatestModern : session?.ProtocolVersion ?? "2025-11-25");
        w.WriteString("session"u8, session?.Id);
        w.WriteBoolean("contextTrusted"u8, session?.Trust.IsTrusted ?? !accepts.Modern);
        if (session?.TaintedBy is { } tool && session.TaintDecision is { } decision)
        {
            w.WriteStartObject("untrustedBy"u8);
            w.WriteString("tool"u8, tool);
            w.WriteString("source"u8, DecisionNames.Source(decision.Source));
            w.WriteString("policyId"u8, decision.PolicyId);
            w.WriteString("reason"u8, decision.Reason);
            w.WriteEndObject();
        }
        else if (session?.TaintedBy is { } elsewhere)
        {
            // Tainted on another replica: that replica judged the result, so only the tool is known here.
            w.WriteStartObject("untrustedBy"u8);
            w.WriteString("tool"u8, elsewhere);
            w.WriteString("source"u8, "another_replica");
            w.WriteNull("policyId"u8);
            w.WriteString("reason"u8, "a result of this tool made the session untrusted on another gateway replica");
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("untrustedBy"u8);
        }

        if (accepts.Modern)
        {
            w.WriteString("note"u8, "an MCP 2026-07-28 request has no session whose trust the gateway can track, so its context is judged as untrusted");
        }
        else if (session is null)
        {
            w.WriteString("note"u8, "a request without a session is its own context and starts trusted");
        }

        w.WriteBoolean("dynamicTools"u8, profile.Config.DynamicTools);
        w.WriteEndObject();
        return null;
    }

    private static string? WriteExplanation(Utf8JsonWriter w, GatewayProfile profile, ProfilePolicies policies, JsonElement args, bool trusted)
    {
        if (args.ValueKind != JsonValueKind.Object || !args.TryGetProperty("tool"u8, out var toolElement) || toolElement.ValueKind != JsonValueKind.String)
        {
            return "archestra__explain needs arguments.tool: the name of a tool as listed";
        }

        var arguments = "{}"u8.ToArray();
        if (args.TryGetProperty("arguments"u8, out var given) && given.ValueKind != JsonValueKind.Null)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                return "archestra__explain: arguments.arguments must be an object (the call's arguments)";
            }

            arguments = Encoding.UTF8.GetBytes(given.GetRawText());
        }

        var name = toolElement.GetString()!;
        var utf8 = Encoding.UTF8.GetBytes(name);
        w.WriteStartObject();
        w.WriteString("tool"u8, name);
        w.WriteBoolean("contextTrusted"u8, trusted);
        string qualified;
        if (BuiltinTools.IsBuiltin(utf8))
        {
            qualified = name;
        }
        else if (profile.Route(utf8, out var offset) is not { } server)
        {
            return WriteNotCallable(w, UnknownName("tool", name, profile));
        }
        else if (!profile.Exposes(server, utf8.AsSpan(offset)))
        {
            return WriteNotCallable(w, ToolSelection.NotExposed(name, profile.Name));
        }
        else
        {
            var own = Encoding.UTF8.GetString(utf8.AsSpan(offset));
            if (server.Cached(ListKind.Tools) is { } list && !list.Index.ContainsKey(own))
            {
                return WriteNotCallable(w, $"Unknown tool '{name}': MCP server '{server.Name}' has no tool '{own}'.");
            }

            qualified = McpProtocol.Qualify(server.Name, own);
        }

        var decision = policies.EvaluateInvocation(qualified, arguments, trusted);
        w.WriteString("policyTool"u8, qualified);
        w.WriteBoolean("callable"u8, true);
        w.WriteString("decision"u8, DecisionNames.Verdict(decision.Verdict));
        w.WriteString("source"u8, DecisionNames.Source(decision.Source));
        w.WriteString("policyId"u8, decision.PolicyId);
        w.WriteString("reason"u8, decision.Reason);
        w.WriteBoolean("listed"u8, !profile.Config.DynamicTools || !policies.RefusesEveryCall(qualified, trusted));
        w.WriteEndObject();
        return null;
    }

    private static string? WriteNotCallable(Utf8JsonWriter w, string reason)
    {
        w.WriteBoolean("callable"u8, false);
        w.WriteString("reason"u8, reason);
        w.WriteEndObject();
        return null;
    }

    private async Task<string?> WriteSearchAsync(Utf8JsonWriter w, GatewayProfile profile, ProfilePolicies policies, JsonElement args, bool trusted)
    {
        if (args.ValueKind != JsonValueKind.Object || !args.TryGetProperty("query"u8, out var queryElement) || queryElement.ValueKind != JsonValueKind.String)
        {
            return "archestra__search_tools needs arguments.query: words to look for in tool names and descriptions";
        }

        var limit = BuiltinTools.DefaultResults;
        if (args.TryGetProperty("limit"u8, out var limitElement) && limitElement.ValueKind != JsonValueKind.Null)
        {
            if (!limitElement.TryGetInt32(out limit) || limit is < 1 or > BuiltinTools.MaxResults)
            {
                return $"archestra__search_tools: arguments.limit must be an integer from 1 to {BuiltinTools.MaxResults}";
            }
        }

        var query = queryElement.GetString()!;
        var words = BuiltinTools.Words(query);
        var snapshots = new ListSnapshot?[profile.Servers.Length];
        for (var i = 0; i < snapshots.Length && words.Length > 0; i++)
        {
            snapshots[i] = await profile.Servers[i].GetListAsync(ListKind.Tools, _gateway.OnListFailed).ConfigureAwait(false);
        }

        var (best, matched) = BuiltinTools.Rank(Searchable(profile, snapshots, policies, trusted), words, limit);
        w.WriteStartObject();
        w.WriteString("query"u8, query);
        w.WriteNumber("matched"u8, matched);
        w.WriteStartArray("tools"u8);
        foreach (var entry in best)
        {
            w.WriteStartObject();
            w.WriteString("name"u8, entry.Name);
            w.WriteString("description"u8, entry.Description);
            w.WritePropertyName("inputSchema"u8);
            w.WriteRawValue(entry.InputSchema, skipInputValidation: true);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        return null;
    }

    /// <summary>The tools a search looks at: those tools/list would show in this trust, streamed so no list of 5,000 is built.</summary>
    private static IEnumerable<SearchEntry> Searchable(GatewayProfile profile, ListSnapshot?[] snapshots, ProfilePolicies policies, bool trusted)
    {
        for (var i = 0; i < snapshots.Length; i++)
        {
            if (snapshots[i] is not { } snapshot)
            {
                continue;
            }

            var view = profile.View(i, snapshot, policies);
            var visible = view.Visible(profile, i, trusted);
            var search = view.Search(profile, i);
            for (var j = 0; j < search.Length; j++)
            {
                if (visible[j])
                {
                    yield return search[j];
                }
            }
        }
    }
}
