using System.Text;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// Every rung of the MCP 2026-07-28 validation ladder on /v1/mcp/{profile}, with the status and JSON-RPC code the
/// specification names (basic "Per-request protocol fields", transports "Server Validation", basic/versioning).
/// </summary>
public sealed class ModernValidationTests : IClassFixture<EverythingFixture>
{
    private static readonly HttpClient Http = new();
    private readonly Uri _url;

    public ModernValidationTests(EverythingFixture fixture)
    {
        _url = fixture.Gateway.McpUrl("mixed");
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<(int Status, System.Text.Json.JsonElement Message)> SendAsync(
        string body,
        string? method,
        string? name = null,
        string? version = ModernRaw.Revision
    ) => ModernRaw.SendAsync(Http, ModernRaw.Post(_url, body, method, name, version));

    private static void AssertError((int Status, System.Text.Json.JsonElement Message) answer, int status, int code, object id)
    {
        Assert.Equal(status, answer.Status);
        Assert.Equal(code, RawMcp.ErrorCode(answer.Message));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(id), answer.Message.GetProperty("id").GetRawText());
        Assert.False(string.IsNullOrWhiteSpace(answer.Message.GetProperty("error").GetProperty("message").GetString()));
    }

    [Fact]
    public async Task A_request_without_meta_is_invalid_params_with_400()
    {
        AssertError(await SendAsync(ModernRaw.Body(101, "server/discover", meta: null), "server/discover"), 400, -32602, 101);
    }

    [Fact]
    public async Task A_meta_without_protocol_version_or_client_capabilities_is_invalid_params_with_400()
    {
        var noVersion = "\"_meta\":{\"io.modelcontextprotocol/clientCapabilities\":{}}";
        AssertError(await SendAsync(ModernRaw.Body(102, "tools/list", meta: noVersion), "tools/list"), 400, -32602, 102);
        var noCapabilities = "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}";
        AssertError(await SendAsync(ModernRaw.Body(103, "tools/list", meta: noCapabilities), "tools/list"), 400, -32602, 103);
        var notAnObject = "\"_meta\":[1]";
        AssertError(await SendAsync(ModernRaw.Body(104, "tools/list", meta: notAnObject), "tools/list"), 400, -32602, 104);
    }

    [Fact]
    public async Task A_missing_or_different_protocol_version_header_is_a_header_mismatch()
    {
        AssertError(await SendAsync(ModernRaw.Body(201, "tools/list"), "tools/list", version: null), 400, -32020, 201);
        var otherBody = ModernRaw.Body(202, "tools/list").Replace("\"2026-07-28\"", "\"v999.0.0\"", StringComparison.Ordinal);
        AssertError(await SendAsync(otherBody, "tools/list"), 400, -32020, 202);
    }

    [Fact]
    public async Task An_unknown_revision_is_unsupported_with_the_supported_list_and_the_requested_one()
    {
        var body = ModernRaw.Body(301, "server/discover").Replace("\"2026-07-28\"", "\"v999.0.0\"", StringComparison.Ordinal);
        var answer = await SendAsync(body, "server/discover", version: "v999.0.0");
        AssertError(answer, 400, -32022, 301);
        var data = answer.Message.GetProperty("error").GetProperty("data");
        Assert.Equal("v999.0.0", data.GetProperty("requested").GetString());
        var supported = data.GetProperty("supported").EnumerateArray().Select(v => v.GetString()).ToList();

        var discover = await SendAsync(ModernRaw.Body(302, "server/discover"), "server/discover");
        var offered = discover.Message.GetProperty("result").GetProperty("supportedVersions").EnumerateArray().Select(v => v.GetString()).ToList();
        Assert.Equal(offered, supported);
        Assert.Equal(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"], supported);
    }

    [Fact]
    public async Task Mcp_method_must_be_present_and_equal_to_the_body_method()
    {
        AssertError(await SendAsync(ModernRaw.Body(401, "tools/list"), method: null), 400, -32020, 401);
        AssertError(await SendAsync(ModernRaw.Body(402, "tools/list"), "prompts/list"), 400, -32020, 402);
        AssertError(await SendAsync(ModernRaw.Body(403, "tools/list"), "TOOLS/LIST"), 400, -32020, 403);

        // Header names are case-insensitive and whitespace around a value is not part of it.
        using var request = ModernRaw.Post(_url, ModernRaw.Body(404, "tools/list"), method: null);
        request.Headers.TryAddWithoutValidation("mcp-method", "  tools/list ");
        var ok = await ModernRaw.SendAsync(Http, request);
        Assert.Equal(200, ok.Status);
        Assert.True(ok.Message.GetProperty("result").TryGetProperty("tools", out _));
    }

    [Fact]
    public async Task Mcp_name_must_be_present_and_equal_to_the_called_tool_plain_or_base64()
    {
        var call = ModernRaw.Body(501, "tools/call", "\"name\":\"local__echo\",\"arguments\":{\"message\":\"hi\"}");
        AssertError(await SendAsync(call, "tools/call", name: null), 400, -32020, 501);
        AssertError(await SendAsync(call, "tools/call", name: "local__get-env"), 400, -32020, 501);
        AssertError(await SendAsync(call, "tools/call", name: "=?base64?not base64!?="), 400, -32020, 501);

        var encoded = "=?base64?" + Convert.ToBase64String(Encoding.UTF8.GetBytes("local__echo")) + "?=";
        var ok = await SendAsync(call, "tools/call", name: encoded);
        Assert.Equal(200, ok.Status);
        Assert.Equal("Echo: hi", ok.Message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());

        var read = ModernRaw.Body(502, "resources/read", "\"uri\":\"demo://resource/static/document/architecture.md\"");
        AssertError(await SendAsync(read, "resources/read", name: "demo://other"), 400, -32020, 502);
    }

    [Fact]
    public async Task Removed_and_unknown_methods_are_404_method_not_found()
    {
        foreach (var method in new[] { "initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe", "unknown/method" })
        {
            AssertError(await SendAsync(ModernRaw.Body(601, method), method), 404, -32601, 601);
        }
    }

    [Fact]
    public async Task Get_and_delete_are_405_and_a_session_id_on_a_modern_post_is_ignored()
    {
        foreach (var verb in new[] { HttpMethod.Get, HttpMethod.Delete })
        {
            using var request = new HttpRequestMessage(verb, _url);
            request.Headers.TryAddWithoutValidation("MCP-Protocol-Version", ModernRaw.Revision);
            request.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
            request.Headers.TryAddWithoutValidation("Mcp-Session-Id", "no-such-session");
            using var response = await Http.SendAsync(request, Ct);
            Assert.Equal(405, (int)response.StatusCode);
            Assert.Contains("POST", response.Content.Headers.Allow);
        }

        using var post = ModernRaw.Post(_url, ModernRaw.Body(701, "tools/list"), "tools/list");
        post.Headers.TryAddWithoutValidation("Mcp-Session-Id", "no-such-session");
        post.Headers.TryAddWithoutValidation("Last-Event-ID", "17");
        using var answer = await Http.SendAsync(post, Ct);
        Assert.Equal(200, (int)answer.StatusCode);
        Assert.False(answer.Headers.Contains("Mcp-Session-Id"));
    }

    [Fact]
    public async Task A_response_from_a_modern_client_is_an_invalid_request()
    {
        using var request = ModernRaw.Post(_url, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", method: null);
        var (status, message) = await ModernRaw.SendAsync(Http, request);
        Assert.Equal(400, status);
        Assert.Equal(-32600, RawMcp.ErrorCode(message));
    }

    [Fact]
    public async Task A_legacy_request_is_untouched_by_the_modern_path()
    {
        // A 2025 stateless call with its header: no resultType, no cache hints, the upstream's bytes with the id rewritten.
        using var request = RawMcp.Post(_url, RawMcp.Call(9, "local__echo", "{\"message\":\"legacy\"}"), accept: "application/json");
        request.Headers.TryAddWithoutValidation("MCP-Protocol-Version", "2025-06-18");
        using var response = await Http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.DoesNotContain("resultType", text, StringComparison.Ordinal);
        Assert.Contains("Echo: legacy", text, StringComparison.Ordinal);

        // An unknown header without the modern envelope keeps the 2025 answer.
        using var unknown = RawMcp.Post(_url, RawMcp.Call(10, "local__echo", "{\"message\":\"x\"}"));
        unknown.Headers.TryAddWithoutValidation("MCP-Protocol-Version", "1999-01-01");
        var (status, message) = await ModernRaw.SendAsync(Http, unknown);
        Assert.Equal(400, status);
        Assert.Equal(-32600, RawMcp.ErrorCode(message));
    }
}
