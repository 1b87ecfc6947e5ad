using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Telemetry;

/// <summary>The MCP spans a tools/call leaves (mcp.md), and the trace context the upstream server receives.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class McpTracingTests(TelemetryFixture fixture)
{
    private static readonly HttpClient Http = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static (ActivityTraceId Trace, ActivitySpanId Parent, string Header) NewParent()
    {
        var trace = ActivityTraceId.CreateRandom();
        var parent = ActivitySpanId.CreateRandom();
        return (trace, parent, $"00-{trace.ToHexString()}-{parent.ToHexString()}-01");
    }

    private async Task<JsonElement> CallAsync(string body, string? traceparent, string profile = "p")
    {
        using var request = RawMcp.Post(fixture.Gateway.McpUrl(profile), body);
        if (traceparent is not null)
        {
            request.Headers.Add("traceparent", traceparent);
        }

        request.Headers.Add("X-Archestra-Agent-Id", "agent-7");
        request.Headers.Add("X-Archestra-Session-Id", "conversation-42");
        request.Headers.Add("MCP-Protocol-Version", "2025-06-18");
        using var response = await Http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await RawMcp.ReadMessageAsync(response);
    }

    private static Activity Server(List<Activity> spans) => Assert.Single(spans, s => s.Kind == ActivityKind.Server);

    [Fact]
    public async Task An_allowed_call_is_a_server_span_with_the_decision_and_a_client_span_whose_context_reaches_the_upstream()
    {
        var (trace, parent, header) = NewParent();

        var answer = await CallAsync(RawMcp.Call(1, "lookup", """{"q":"weather in Paris"}"""), header);

        Assert.Contains("found: weather in Paris", answer.GetRawText(), StringComparison.Ordinal);
        var spans = await fixture.TraceAsync(trace, s => s.Count == 2);
        var server = Server(spans);
        Assert.Equal("tools/call lookup", server.DisplayName);
        Assert.Equal(parent, server.ParentSpanId);
        Assert.Equal("tools/call", server.GetTagItem("mcp.method.name"));
        Assert.Equal("lookup", server.GetTagItem("gen_ai.tool.name"));
        Assert.Equal("execute_tool", server.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("2025-06-18", server.GetTagItem("mcp.protocol.version"));
        Assert.Equal("1", server.GetTagItem("jsonrpc.request.id"));
        Assert.Equal("p", server.GetTagItem("archestra.profile"));
        Assert.Equal("fake", server.GetTagItem("archestra.server"));
        Assert.Equal("ok", server.GetTagItem("archestra.outcome"));
        Assert.Equal("agent-7", server.GetTagItem("archestra.agent.id"));
        Assert.Equal("conversation-42", server.GetTagItem("archestra.session.id"));
        Assert.Equal(ActivityStatusCode.Unset, server.Status);
        var decision = Assert.Single(server.Events);
        Assert.Equal("archestra.policy.decision", decision.Name);
        Assert.Equal("allow", decision.Tags.Single(t => t.Key == "archestra.policy.decision").Value);

        var client = Assert.Single(spans, s => s.Kind == ActivityKind.Client);
        Assert.Equal(server.SpanId, client.ParentSpanId);
        Assert.Equal("tools/call lookup", client.DisplayName);
        Assert.Equal("tcp", client.GetTagItem("network.transport"));
        Assert.Equal("127.0.0.1", client.GetTagItem("server.address"));

        // The upstream got the client span's context in the header and in params._meta; the arguments it got are the ones judged.
        var (received, body) = fixture.McpRequests.Last(r => r.Body.GetProperty("method").GetString() == "tools/call");
        var expected = $"00-{trace.ToHexString()}-{client.SpanId.ToHexString()}-01";
        Assert.Equal(expected, received);
        Assert.Equal(expected, body.GetProperty("params").GetProperty("_meta").GetProperty("traceparent").GetString());
        Assert.Equal("""{"q":"weather in Paris"}""", body.GetProperty("params").GetProperty("arguments").GetRawText());

        // No content unless the profile opts in.
        Assert.DoesNotContain(spans.SelectMany(s => s.TagObjects), t => t.Value is string v && v.Contains("Paris", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_traceparent_in_meta_wins_over_the_header_and_is_replaced_by_the_gateways_own_upstream()
    {
        var (trace, parent, header) = NewParent();
        var (other, _, otherHeader) = NewParent();
        var body =
            """{"jsonrpc":"2.0","id":"m-1","method":"tools/call","params":{"name":"lookup","arguments":{"q":"x"},"_meta":{"traceparent":"""
            + $"\"{header}\""
            + ""","progressToken":7}}}""";

        await CallAsync(body, otherHeader);

        var spans = await fixture.TraceAsync(trace, s => s.Count == 2);
        Assert.Equal(parent, Server(spans).ParentSpanId);
        Assert.Equal("m-1", Server(spans).GetTagItem("jsonrpc.request.id"));
        Assert.DoesNotContain(fixture.AllSpans(), s => s.TraceId == other);
        var client = Assert.Single(spans, s => s.Kind == ActivityKind.Client);
        var (_, received) = fixture.McpRequests.Last(r => r.Body.GetProperty("method").GetString() == "tools/call");
        var meta = received.GetProperty("params").GetProperty("_meta");
        Assert.Equal($"00-{trace.ToHexString()}-{client.SpanId.ToHexString()}-01", meta.GetProperty("traceparent").GetString());
        Assert.True(meta.TryGetProperty("progressToken", out _), meta.GetRawText());
    }

    [Fact]
    public async Task A_blocked_call_is_a_failed_server_span_with_the_policy_in_its_decision_event_and_no_upstream_span()
    {
        var (trace, _, header) = NewParent();

        var answer = await CallAsync(RawMcp.Call(2, "lookup", """{"q":"the secret plans"}"""), header);

        Assert.True(answer.GetProperty("result").GetProperty("isError").GetBoolean());
        // A client span would have ended, and been queued, before the server span: the trace is complete once that is here.
        var server = Assert.Single(await fixture.TraceAsync(trace, s => s.Count >= 1));
        Assert.DoesNotContain(fixture.McpRequests, r => r.TraceParent?.Contains(trace.ToHexString(), StringComparison.Ordinal) == true);
        Assert.Equal("blocked", server.GetTagItem("archestra.outcome"));
        Assert.Equal("blocked", server.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, server.Status);
        var decision = Assert.Single(server.Events);
        var tags = decision.Tags.ToDictionary(t => t.Key, t => t.Value);
        Assert.Equal("block", tags["archestra.policy.decision"]);
        Assert.Equal("no-secrets", tags["archestra.policy.id"]);
    }

    [Fact]
    public async Task An_upstream_json_rpc_error_marks_both_spans_with_its_code()
    {
        var (trace, _, header) = NewParent();

        var answer = await CallAsync(RawMcp.Call(3, "broken", """{"q":"x"}"""), header);

        Assert.Equal(-32603, RawMcp.ErrorCode(answer));
        var spans = await fixture.TraceAsync(trace, s => s.Count == 2);
        foreach (var span in spans)
        {
            Assert.Equal("-32603", span.GetTagItem("rpc.response.status_code"));
            Assert.Equal("-32603", span.GetTagItem("rpc.jsonrpc.error_code"));
            Assert.Equal("-32603", span.GetTagItem("error.type"));
            Assert.Equal(ActivityStatusCode.Error, span.Status);
            Assert.Equal("the lookup service is down", span.StatusDescription);
        }
    }

    [Fact]
    public async Task A_tool_result_with_is_error_is_a_tool_error()
    {
        var (trace, _, header) = NewParent();

        await CallAsync(RawMcp.Call(4, "failing", """{"q":"x"}"""), header);

        var server = Server(await fixture.TraceAsync(trace, s => s.Count == 2));
        Assert.Equal("tool_error", server.GetTagItem("error.type"));
        Assert.Equal("error", server.GetTagItem("archestra.outcome"));
    }

    [Fact]
    public async Task A_profile_that_captures_content_records_the_arguments_and_the_result()
    {
        var (trace, _, header) = NewParent();

        await CallAsync(RawMcp.Call(5, "lookup", """{"q":"weather in Oslo"}"""), header, profile: "capture");

        var server = Server(await fixture.TraceAsync(trace, s => s.Count == 2));
        Assert.Equal("""{"q":"weather in Oslo"}""", server.GetTagItem("gen_ai.tool.call.arguments"));
        Assert.Contains("found: weather in Oslo", (string)server.GetTagItem("gen_ai.tool.call.result")!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_without_a_traceparent_starts_a_trace_of_its_own()
    {
        var answer = await CallAsync(RawMcp.Call("no-parent", "lookup", """{"q":"alone"}"""), traceparent: null);

        Assert.Contains("found: alone", answer.GetRawText(), StringComparison.Ordinal);
        var (received, _) = fixture.McpRequests.Last(r => r.Body.GetProperty("method").GetString() == "tools/call");
        var trace = ActivityTraceId.CreateFromString(received!.Split('-')[1]);
        var spans = await fixture.TraceAsync(trace, s => s.Count == 2);
        Assert.Equal(default, Server(spans).ParentSpanId);
    }
}
