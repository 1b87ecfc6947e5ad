using System.Text;
using Archestra.Storage.Postgres;
using Archestra.Storage.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Archestra.Storage.Tests;

public sealed class PostgresUrlTests
{
    [Fact]
    public void A_postgres_url_becomes_an_npgsql_connection_string()
    {
        var cs = new NpgsqlConnectionStringBuilder(
            PostgresUrl.ToConnectionString("postgres://app%40corp:p%3Ass@db.example.com:6432/archestra?sslmode=require&application_name=gw")
        );
        Assert.Equal("db.example.com", cs.Host);
        Assert.Equal(6432, cs.Port);
        Assert.Equal("app@corp", cs.Username);
        Assert.Equal("p:ss", cs.Password);
        Assert.Equal("archestra", cs.Database);
        Assert.Equal(SslMode.Require, cs.SslMode);
        Assert.Equal("gw", cs.ApplicationName);
    }

    [Fact]
    public void The_default_port_is_5432_and_postgresql_scheme_and_ipv6_hosts_work()
    {
        var cs = new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString("postgresql://u@[::1]/d"));
        Assert.Equal("::1", cs.Host);
        Assert.Equal(5432, cs.Port);
        Assert.Equal("u", cs.Username);
        Assert.Null(cs.Password);
    }

    [Fact]
    public void A_plain_connection_string_passes_through_and_garbage_is_rejected_without_echoing_the_password()
    {
        Assert.Contains("Host=h", PostgresUrl.ToConnectionString("Host=h;Database=d"), StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => PostgresUrl.ToConnectionString("postgres://u:secret@h/d?nonsense_option=1"));
        Assert.Contains("nonsense_option", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
        Assert.Equal("postgres://u:***@h/d", PostgresUrl.Redact("postgres://u:secret@h/d"));
    }
}

public sealed class SpillTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archestra-spill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Every_field_of_both_record_kinds_round_trips_through_the_spill_format()
    {
        var spill = new AuditSpill(_dir);
        AuditRecord[] records =
        [
            Records.ToolCall(3, outcome: "error"),
            Records.Llm(4),
            Records.Llm(5, cost: -12.3456789012m),
            Records.Llm(6, cost: null),
            new McpToolCallRecord { Arguments = "ünïcødé 🚀" },
        ];
        spill.AppendBatch([.. records]);
        spill.Close();
        var read = AuditSpill.ReadFile(Assert.Single(Directory.GetFiles(_dir)), NullLogger.Instance, out var skipped);
        Assert.Equal(0, skipped);
        Assert.Equal(records.Length, read.Count);
        for (var i = 0; i < records.Length; i++)
        {
            Assert.Equivalent(records[i], read[i], strict: true);
        }
    }

    [Fact]
    public void A_frame_written_by_the_previous_build_with_a_plain_decimal_cost_is_still_read()
    {
        // Tag 2, the layout before costs could be unknown: the fields in order, cost as four 32-bit parts.
        var id = Guid.CreateVersion7();
        var payload = new List<byte> { 2 };
        payload.AddRange(id.ToByteArray(bigEndian: true));
        Int64(payload, 1_700_000_000_000_000);
        foreach (var s in (string?[])["team", "openai", "gpt-4o", null])
        {
            Text(payload, s);
        }

        foreach (var n in (long[])[12, 5, 4, 2])
        {
            Int64(payload, n);
        }

        foreach (var part in decimal.GetBits(0.000075m))
        {
            payload.AddRange(BitConverter.GetBytes(part));
        }

        Int64(payload, 1234);
        Int64(payload, long.MinValue);
        foreach (var s in (string?[])["ok", null, null])
        {
            Text(payload, s);
        }

        Assert.True(SpillCodec.TryReadPayload(payload.ToArray(), out var record));
        var llm = Assert.IsType<LlmInteractionRecord>(record);
        Assert.Equal(
            (id, "gpt-4o", 12L, 2L, 0.000075m, 1234L, "ok"),
            (llm.Id, llm.RequestedModel, llm.InputTokens, llm.ReasoningTokens, llm.Cost, llm.DurationMicroseconds, llm.Status)
        );
        Assert.Null(llm.TimeToFirstTokenMicroseconds);

        static void Int64(List<byte> to, long value) => to.AddRange(BitConverter.GetBytes(value));

        static void Text(List<byte> to, string? value)
        {
            if (value is null)
            {
                to.AddRange(BitConverter.GetBytes(-1));
                return;
            }

            var bytes = Encoding.UTF8.GetBytes(value);
            to.AddRange(BitConverter.GetBytes(bytes.Length));
            to.AddRange(bytes);
        }
    }

    [Fact]
    public void A_tool_call_frame_written_before_agent_correlation_is_read_with_no_agent()
    {
        // Tag 1, the layout before schema 6: the same fields without the agent id and agent session id at the end.
        var written = Records.ToolCall(7, outcome: "denied");
        var current = new SpillBuffer();
        SpillCodec.WriteFrame(current, written);
        var payload = current.Written[SpillCodec.FrameOverhead..].ToArray();
        Assert.Equal(4, payload[0]);
        var agentBytes = 4 + Encoding.UTF8.GetByteCount(written.AgentId!) + 4 + Encoding.UTF8.GetByteCount(written.AgentSessionId!);
        var old = payload[..^agentBytes];
        old[0] = 1;

        Assert.True(SpillCodec.TryReadPayload(old, out var record));
        var call = Assert.IsType<McpToolCallRecord>(record);
        Assert.Equivalent(
            new
            {
                written.Id,
                written.Tool,
                written.PolicyId,
                written.Arguments,
            },
            new
            {
                call.Id,
                call.Tool,
                call.PolicyId,
                call.Arguments,
            }
        );
        Assert.Null(call.AgentId);
        Assert.Null(call.AgentSessionId);

        // The new tag without its trailing fields is a cut frame, not a record with the fields missing.
        var cut = payload[..^agentBytes];
        Assert.False(SpillCodec.TryReadPayload(cut, out _));
    }

    [Fact]
    public void A_corrupt_frame_in_the_middle_is_skipped_and_reading_resumes_at_the_next_intact_frame()
    {
        var spill = new AuditSpill(_dir);
        spill.AppendBatch(Enumerable.Range(0, 100).Select(i => (AuditRecord)Records.ToolCall(i)).ToList());
        spill.Close();
        var file = Assert.Single(Directory.GetFiles(_dir));
        var bytes = File.ReadAllBytes(file);
        // Frames differ in size by a byte or two; flipping one byte near the middle damages exactly one of them.
        var frame = (bytes.Length - 8) / 100;
        bytes[8 + (frame * 50) + 20] ^= 0xFF;
        File.WriteAllBytes(file, bytes);

        var read = AuditSpill.ReadFile(file, NullLogger.Instance, out var skipped);
        Assert.Equal(99, read.Count);
        Assert.True(skipped > 0);
        Assert.Equal(read.Select(r => r.Id).Distinct().Count(), read.Count);
    }

    [Fact]
    public void A_file_cut_mid_frame_yields_every_whole_frame_before_the_cut()
    {
        var spill = new AuditSpill(_dir);
        spill.AppendBatch(Enumerable.Range(0, 10).Select(i => (AuditRecord)Records.Llm(i)).ToList());
        spill.Close();
        var file = Assert.Single(Directory.GetFiles(_dir));
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..^7]);
        var read = AuditSpill.ReadFile(file, NullLogger.Instance, out var skipped);
        Assert.Equal(9, read.Count);
        Assert.InRange(skipped, 1, bytes.Length);
    }
}

public sealed class AuditTextTests
{
    [Theory]
    [InlineData("abcdef", 4, "abcd")]
    [InlineData("abc", 4, "abc")]
    [InlineData("aé", 2, "a")] // é is 2 bytes: never split
    [InlineData("a🚀b", 4, "a")] // the rocket is 4 bytes (a surrogate pair)
    [InlineData("a🚀b", 5, "a🚀")]
    public void Truncation_cuts_on_utf8_character_boundaries(string text, int max, string expected)
    {
        Assert.Equal(expected, AuditText.Truncate(text, max));
        Assert.Equal(expected, AuditText.Truncate(Encoding.UTF8.GetBytes(text), max));
    }
}

public sealed class StorageOptionsTests
{
    [Fact]
    public void Defaults_select_the_embedded_database_and_validate()
    {
        var options = new StorageOptions();
        options.Validate();
        Assert.False(options.UsesPostgres);
        Assert.Equal("./data/archestra.db", options.SqlitePath);
        Assert.Equal(TimeSpan.FromMilliseconds(100), options.FlushInterval);
        Assert.True(new StorageOptions { DatabaseUrl = "postgres://h/d" }.UsesPostgres);
    }

    [Fact]
    public void Bad_values_are_rejected_naming_the_field()
    {
        Assert.Contains("batchSize", Assert.Throws<ArgumentException>(() => new StorageOptions { BatchSize = 0 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains(
            "channelCapacity",
            Assert.Throws<ArgumentException>(() => new StorageOptions { ChannelCapacity = 10 }.Validate()).Message,
            StringComparison.Ordinal
        );
        Assert.Contains(
            "flushInterval",
            Assert.Throws<ArgumentException>(() => new StorageOptions { FlushInterval = TimeSpan.Zero }.Validate()).Message,
            StringComparison.Ordinal
        );
    }
}
