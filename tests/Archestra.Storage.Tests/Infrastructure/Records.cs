namespace Archestra.Storage.Tests.Infrastructure;

internal static class Records
{
    public static readonly DateTime Epoch = new(2025, 3, 1, 0, 0, 0, DateTimeKind.Utc);

    public static McpToolCallRecord ToolCall(
        int seq,
        DateTime? time = null,
        string profile = "p1",
        string server = "s1",
        string tool = "t1",
        string outcome = "ok"
    )
    {
        var t = time ?? Epoch.AddMilliseconds(seq);
        return new McpToolCallRecord
        {
            Id = Guid.CreateVersion7(t),
            Time = t,
            Profile = profile,
            SessionId = "session-" + (seq % 7),
            Server = server,
            Tool = tool,
            Decision = outcome == "denied" ? "deny" : "allow",
            PolicyId = outcome == "denied" ? "policy-1" : null,
            Outcome = outcome,
            DurationMicroseconds = 100 + seq,
            RequestBytes = seq,
            ResponseBytes = 2 * seq,
            Error = outcome == "error" ? "boom " + seq : null,
            Arguments = "{\"n\":" + seq + "}",
            AgentId = seq % 3 == 0 ? null : "agent-" + (seq % 2),
            AgentSessionId = seq % 4 == 0 ? null : "conversation-" + (seq % 5),
        };
    }

    public static LlmInteractionRecord Llm(
        int seq,
        DateTime? time = null,
        string profile = "p1",
        string model = "gpt-4o",
        decimal? cost = 0.0012345678m,
        string status = "ok"
    )
    {
        var t = time ?? Epoch.AddMilliseconds(seq);
        return new LlmInteractionRecord
        {
            Id = Guid.CreateVersion7(t),
            Time = t,
            Profile = profile,
            Provider = "openai",
            RequestedModel = model,
            UsedModel = seq % 2 == 0 ? model : null,
            InputTokens = 1000 + seq,
            OutputTokens = 10 + seq,
            CachedInputTokens = seq % 5,
            ReasoningTokens = seq % 3,
            Cost = cost,
            DurationMicroseconds = 5000 + seq,
            TimeToFirstTokenMicroseconds = seq % 2 == 0 ? 700 + seq : null,
            Status = status,
            BlockedTools = seq % 4 == 0 ? "fs__write" : null,
            Error = status == "error" ? "upstream 500" : null,
            AgentId = seq % 3 == 0 ? null : "agent-" + (seq % 2),
            AgentSessionId = seq % 4 == 0 ? null : "conversation-" + (seq % 5),
        };
    }

    /// <summary>Writes through the writer and stops it, so every record is in the database on return.</summary>
    public static async Task WriteAllAsync(ArchestraStore store, IEnumerable<AuditRecord> records)
    {
        var writer = store.CreateAuditWriter();
        writer.Start();
        foreach (var r in records)
        {
            Assert.True(writer.Enqueue(r));
        }

        await writer.DisposeAsync();
        Assert.Equal(0, writer.Metrics.Spilled);
    }
}
