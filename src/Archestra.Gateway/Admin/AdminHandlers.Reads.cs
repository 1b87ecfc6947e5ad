using System.Text;
using Archestra.Runtime.Diagnostics;
using Archestra.Runtime.Stdio;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>Audit lists, usage, the admin change log, and server operations (status, logs, restart).</summary>
internal sealed partial class AdminHandlers
{
    private static readonly string[] s_auditQuery = ["cursor", "limit", "sort", "from", "to", "profile", "agentId", "agentSessionId"];

    /// <summary>How often a followed log is checked for new lines.</summary>
    private static readonly TimeSpan s_followInterval = TimeSpan.FromMilliseconds(200);

    private void AddReadRoutes(List<AdminRoute> routes)
    {
        routes.Add(
            new(
                "GET",
                "/api/audit/mcp-tool-calls",
                "audit",
                "Tool calls, newest first; cursor pagination",
                (h, c) => ToolCallsAsync(h),
                Query: [.. s_auditQuery, "server", "tool", "outcome"]
            )
            {
                Response = AdminJson.Default.PageBodyToolCallBody,
            }
        );
        routes.Add(
            new(
                "GET",
                "/api/audit/llm-interactions",
                "audit",
                "LLM interactions, newest first; cursor pagination",
                (h, c) => LlmInteractionsAsync(h),
                Query: [.. s_auditQuery, "provider", "model", "status"]
            )
            {
                Response = AdminJson.Default.PageBodyLlmInteractionBody,
            }
        );
        routes.Add(
            new("GET", "/api/audit/admin-changes", "audit", "The admin change log, newest first", (h, c) => AdminChangesAsync(h), Query: ["limit"])
            {
                Response = AdminJson.Default.ItemsBodyAdminChangeBody,
            }
        );
        routes.Add(
            new("GET", "/api/usage", "audit", "LLM usage summed per UTC day, profile and model", (h, c) => UsageAsync(h), Query: ["from", "to", "profile"])
            {
                Response = AdminJson.Default.UsageBody,
            }
        );
        routes.Add(
            new("GET", "/api/mcp-servers/{name}/status", "mcp-servers", "A server's state, protocol, calls in flight, tools, restarts", (h, c) =>
                Task.FromResult(Status(h))
            )
            {
                Response = AdminJson.Default.ServerStatusBody,
            }
        );
        routes.Add(
            new(
                "GET",
                "/api/mcp-servers/{name}/logs",
                "mcp-servers",
                "A local server's recent stderr lines, or a Kubernetes server's pod log; follow=true streams new lines (SSE)",
                (h, c) => LogsAsync(h),
                Query: ["lines", "follow"]
            )
            {
                Response = AdminJson.Default.ServerLogBody,
            }
        );
        routes.Add(
            new(
                "POST",
                "/api/mcp-servers/{name}/restart",
                "mcp-servers",
                "Restart a server (its process or connection; on Kubernetes a rollout restart)",
                RestartAsync
            )
            {
                Response = AdminJson.Default.ServerStatusBody,
            }
        );
    }

    private static T ReadAuditQuery<T>(HttpContext http, T query, List<FieldError> errors)
        where T : AuditQuery
    {
        var sort = AdminRequest.Query(http, "sort");
        if (sort is not null and not "asc" and not "desc")
        {
            errors.Add(new FieldError("query.sort", $"expected asc or desc, got '{sort}'"));
        }

        var cursor = AdminRequest.Query(http, "cursor");
        if (cursor is not null)
        {
            try
            {
                ArchestraStore.DecodeCursor(cursor);
            }
            catch (ArgumentException)
            {
                errors.Add(new FieldError("query.cursor", "not a cursor returned by this endpoint (nextCursor)"));
                cursor = null;
            }
        }

        return query with
        {
            Cursor = cursor,
            Limit = AdminRequest.QueryInt(http, "limit", 100, 1, AuditQuery.MaxLimit, errors),
            Descending = sort != "asc",
            From = AdminRequest.QueryTime(http, "from", errors),
            To = AdminRequest.QueryTime(http, "to", errors),
            Profile = AdminRequest.Query(http, "profile"),
            AgentId = AdminRequest.Query(http, "agentId"),
            AgentSessionId = AdminRequest.Query(http, "agentSessionId"),
        };
    }

    private async Task<AdminResult> ToolCallsAsync(HttpContext http)
    {
        var errors = new List<FieldError>();
        var query = ReadAuditQuery(
            http,
            new ToolCallQuery
            {
                Server = AdminRequest.Query(http, "server"),
                Tool = AdminRequest.Query(http, "tool"),
                Outcome = AdminRequest.Query(http, "outcome"),
            },
            errors
        );
        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        var page = await Store.ListToolCallsAsync(query, http.RequestAborted).ConfigureAwait(false);
        var items = page
            .Items.Select(static r => new ToolCallBody
            {
                Id = r.Id,
                Time = r.Time,
                Profile = r.Profile,
                SessionId = r.SessionId,
                Server = r.Server,
                Tool = r.Tool,
                Decision = r.Decision,
                PolicyId = r.PolicyId,
                Outcome = r.Outcome,
                DurationMs = r.DurationMicroseconds / 1000.0,
                RequestBytes = r.RequestBytes,
                ResponseBytes = r.ResponseBytes,
                Error = r.Error,
                Arguments = r.Arguments,
                AgentId = r.AgentId,
                AgentSessionId = r.AgentSessionId,
            })
            .ToList();
        return AdminResult.Ok(new PageBody<ToolCallBody>(items, page.NextCursor), AdminJson.Default.PageBodyToolCallBody);
    }

    private async Task<AdminResult> LlmInteractionsAsync(HttpContext http)
    {
        var errors = new List<FieldError>();
        var query = ReadAuditQuery(
            http,
            new LlmInteractionQuery
            {
                Provider = AdminRequest.Query(http, "provider"),
                Model = AdminRequest.Query(http, "model"),
                Status = AdminRequest.Query(http, "status"),
            },
            errors
        );
        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        var page = await Store.ListLlmInteractionsAsync(query, http.RequestAborted).ConfigureAwait(false);
        var items = page
            .Items.Select(static r => new LlmInteractionBody
            {
                Id = r.Id,
                Time = r.Time,
                Profile = r.Profile,
                Provider = r.Provider,
                RequestedModel = r.RequestedModel,
                UsedModel = r.UsedModel,
                InputTokens = r.InputTokens,
                OutputTokens = r.OutputTokens,
                CachedInputTokens = r.CachedInputTokens,
                ReasoningTokens = r.ReasoningTokens,
                Cost = r.Cost,
                DurationMs = r.DurationMicroseconds / 1000.0,
                TimeToFirstTokenMs = r.TimeToFirstTokenMicroseconds / 1000.0,
                Status = r.Status,
                BlockedTools = r.BlockedTools,
                Error = r.Error,
                AgentId = r.AgentId,
                AgentSessionId = r.AgentSessionId,
            })
            .ToList();
        return AdminResult.Ok(new PageBody<LlmInteractionBody>(items, page.NextCursor), AdminJson.Default.PageBodyLlmInteractionBody);
    }

    private async Task<AdminResult> AdminChangesAsync(HttpContext http)
    {
        var errors = new List<FieldError>();
        var limit = AdminRequest.QueryInt(http, "limit", 100, 1, 1000, errors);
        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        var changes = await Store.AdminChanges.ListAsync(limit, http.RequestAborted).ConfigureAwait(false);
        var items = changes
            .Select(static c => new AdminChangeBody(
                c.Id,
                c.Time,
                c.Actor,
                c.Action,
                c.ResourceKind,
                c.ResourceId,
                c.ResourceKind == "server" ? Json(w => WriteRedacted(w, c.DetailsJson)) : Json(w => w.WriteRawValue(c.DetailsJson))
            ))
            .ToList();
        return AdminResult.Ok(new ItemsBody<AdminChangeBody>(items), AdminJson.Default.ItemsBodyAdminChangeBody);
    }

    private async Task<AdminResult> UsageAsync(HttpContext http)
    {
        var errors = new List<FieldError>();
        var to = AdminRequest.QueryTime(http, "to", errors) ?? DateTime.UtcNow;
        var from = AdminRequest.QueryTime(http, "from", errors) ?? to.AddDays(-30);
        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        var rows = await Store.GetUsageAsync(from, to, AdminRequest.Query(http, "profile"), http.RequestAborted).ConfigureAwait(false);
        var items = rows.Select(static r => new UsageItemBody(
                r.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                r.Profile,
                r.Model,
                r.Requests,
                r.InputTokens,
                r.OutputTokens,
                r.CachedInputTokens,
                r.ReasoningTokens,
                r.Cost
            ))
            .ToList();
        return AdminResult.Ok(new UsageBody(from, to, items), AdminJson.Default.UsageBody);
    }

    // ---- operations -------------------------------------------------------------------------------------------

    private AdminResult Status(HttpContext http)
    {
        var name = AdminRequest.Route(http, "name");
        if (!Gateway.Entries.TryGetValue(name, out var entry))
        {
            return AdminResult.NotFound("MCP server", name);
        }

        var upstream = entry.Upstream;
        var stdio = upstream as StdioUpstream;
        var status = new ServerStatusBody
        {
            Name = name,
            ManagedBy = File.McpServers.Any(s => s.Name == name) ? "file" : "api",
            State = StateName(upstream.State),
            Detail = upstream.StateDetail,
            ProtocolVersion = upstream.ProtocolVersion,
            InFlight = upstream.InFlight,
            Tools = entry.Cached(Mcp.ListKind.Tools)?.Items.Length,
            Restarts = stdio?.Restarts,
            Pid = stdio?.ProcessId,
            Kubernetes = KubernetesStatus(name),
        };
        return AdminResult.Ok(status, AdminJson.Default.ServerStatusBody);
    }

    private async Task<AdminResult> LogsAsync(HttpContext http)
    {
        var name = AdminRequest.Route(http, "name");
        var errors = new List<FieldError>();
        var lines = AdminRequest.QueryInt(http, "lines", 100, 1, 10_000, errors);
        var followText = AdminRequest.Query(http, "follow");
        if (followText is not null and not "true" and not "false")
        {
            errors.Add(new FieldError("query.follow", $"expected true or false, got '{followText}'"));
        }

        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        if (!Gateway.Entries.TryGetValue(name, out var entry))
        {
            return AdminResult.NotFound("MCP server", name);
        }

        if (OnKubernetes(name) is var (_, runtime))
        {
            return await KubernetesLogsAsync(http, name, runtime, lines, followText == "true").ConfigureAwait(false);
        }

        if (entry.Upstream is not StdioUpstream stdio)
        {
            return AdminResult.Conflict($"MCP server '{name}' is remote: the gateway has no process output for it");
        }

        var (tail, total) = stdio.StderrSnapshot();
        var first = Math.Max(0, tail.Length - lines);
        if (followText != "true")
        {
            return AdminResult.Ok(new ServerLogBody(name, tail[first..]), AdminJson.Default.ServerLogBody);
        }

        // Server-sent events, one line per event, until the client leaves. The server may restart (a new process,
        // a new entry): the stream follows whatever runs under the name.
        var ct = http.RequestAborted;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.StartAsync(ct).ConfigureAwait(false);
        try
        {
            await WriteEventsAsync(http, tail.AsSpan(first).ToArray(), ct).ConfigureAwait(false);
            var current = stdio;
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(s_followInterval, ct).ConfigureAwait(false);
                if (Gateway.Entries.TryGetValue(name, out var now) && now.Upstream is StdioUpstream live && live != current)
                {
                    current = live;
                    total = 0;
                }

                var (snapshot, count) = current.StderrSnapshot();
                if (count > total)
                {
                    var fresh = (int)Math.Min(count - total, snapshot.Length);
                    await WriteEventsAsync(http, snapshot[^fresh..], ct).ConfigureAwait(false);
                    total = count;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client left.
        }

        return AdminResult.Written;
    }

    private static async Task WriteEventsAsync(HttpContext http, string[] lines, CancellationToken ct)
    {
        if (lines.Length == 0)
        {
            return;
        }

        var text = new StringBuilder();
        foreach (var line in lines)
        {
            // Escaped as in the gateway's own log: a followed log is read in terminals (curl -N), where a server's
            // escape sequences would take effect, and a CR or LF would end the event early.
            text.Append("data: ").Append(LogText.Escape(line)).Append("\n\n");
        }

        await http.Response.WriteAsync(text.ToString(), ct).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
    }

    private async Task<AdminResult> RestartAsync(HttpContext http, Caller caller)
    {
        var name = AdminRequest.Route(http, "name");
        var ct = http.RequestAborted;
        if (!Gateway.Entries.ContainsKey(name))
        {
            return AdminResult.NotFound("MCP server", name);
        }

        var change = new AdminChange(Guid.CreateVersion7(), DateTime.UtcNow, caller.Name, "update", "server", name, """{"operation":"restart"}""");
        await Store.AdminChanges.RecordAsync(change, ct).ConfigureAwait(false);
        if (OnKubernetes(name) is var (_, runtime))
        {
            return await KubernetesRestartAsync(http, name, runtime).ConfigureAwait(false);
        }

        if (!await Gateway.RestartServerAsync(name, ct).ConfigureAwait(false))
        {
            return AdminResult.NotFound("MCP server", name);
        }

        return Status(http);
    }
}
