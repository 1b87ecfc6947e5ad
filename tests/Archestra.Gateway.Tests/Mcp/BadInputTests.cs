using System.Net;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>Every kind of bad input gets the documented status and JSON-RPC code, and the gateway keeps serving.</summary>
public sealed class BadInputTests : IClassFixture<EverythingFixture>
{
    private readonly EverythingFixture _fixture;
    private static readonly HttpClient Http = new();

    public BadInputTests(EverythingFixture fixture)
    {
        _fixture = fixture;
    }

    private Uri Url(string profile = "mixed") => _fixture.Gateway.McpUrl(profile);

    private async Task AssertStillServesAsync()
    {
        using var response = await Http.SendAsync(
            RawMcp.Post(Url(), RawMcp.Call(99, "remote__echo", """{"message":"alive"}""")),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = await RawMcp.ReadMessageAsync(response);
        Assert.Equal(99, message.GetProperty("id").GetInt32());
        Assert.Contains("alive", message.GetProperty("result").GetRawText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{not json", 400, -32700)]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list"} extra""", 400, -32700)]
    [InlineData("""{"jsonrpc":"1.0","id":1,"method":"tools/list"}""", 400, -32600)]
    [InlineData("""{"id":1,"method":"tools/list"}""", 400, -32600)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]""", 400, -32600)]
    [InlineData("\"just a string\"", 400, -32600)]
    public async Task Malformed_and_invalid_messages_get_parse_or_invalid_request_errors(string body, int status, int code)
    {
        using var response = await Http.SendAsync(RawMcp.Post(Url(), body), TestContext.Current.CancellationToken);
        Assert.Equal(status, (int)response.StatusCode);
        var message = await RawMcp.ReadMessageAsync(response);
        Assert.Equal(code, RawMcp.ErrorCode(message));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, message.GetProperty("id").ValueKind);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task An_unknown_method_gets_method_not_found_with_the_request_id()
    {
        using var response = await Http.SendAsync(
            RawMcp.Post(Url(), """{"jsonrpc":"2.0","id":"m-1","method":"tools/frobnicate"}"""),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = await RawMcp.ReadMessageAsync(response);
        Assert.Equal(-32601, RawMcp.ErrorCode(message));
        Assert.Equal("m-1", message.GetProperty("id").GetString());
        Assert.Contains("tools/frobnicate", RawMcp.ErrorMessage(message), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nosuchserver__echo", "server one of")]
    [InlineData("echo", "server one of")]
    [InlineData("remote__no-such-tool", "has no tool 'no-such-tool'")]
    public async Task Unknown_tools_get_invalid_params_naming_the_problem(string tool, string expected)
    {
        using var response = await Http.SendAsync(RawMcp.Post(Url(), RawMcp.Call(5, tool)), TestContext.Current.CancellationToken);
        var message = await RawMcp.ReadMessageAsync(response);
        Assert.Equal(-32602, RawMcp.ErrorCode(message));
        Assert.Contains(expected, RawMcp.ErrorMessage(message), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tools_call_without_a_name_or_with_non_object_arguments_is_invalid_params()
    {
        using var noName = await Http.SendAsync(
            RawMcp.Post(Url(), """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"""),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(-32602, RawMcp.ErrorCode(await RawMcp.ReadMessageAsync(noName)));

        using var badArgs = await Http.SendAsync(RawMcp.Post(Url(), RawMcp.Call(2, "remote__echo", "[1,2]")), TestContext.Current.CancellationToken);
        Assert.Equal(-32602, RawMcp.ErrorCode(await RawMcp.ReadMessageAsync(badArgs)));
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413()
    {
        var huge = new string('x', 5 * 1024 * 1024);
        using var response = await Http.SendAsync(
            RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo", $$"""{"message":"{{huge}}"}""")),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("maxRequestBodyBytes", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_gets_413()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Url()) { Content = new StreamContent(new MemoryStream(new byte[5 * 1024 * 1024])) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.TransferEncodingChunked = true;
        request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Wrong_content_type_gets_415_and_wrong_accept_gets_406()
    {
        using var text = await Http.SendAsync(
            RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo"), contentType: "text/plain"),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);

        using var accept = await Http.SendAsync(RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo"), accept: "text/html"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotAcceptable, accept.StatusCode);

        var get = new HttpRequestMessage(HttpMethod.Get, Url());
        get.Headers.TryAddWithoutValidation("Accept", "application/json");
        using var getResponse = await Http.SendAsync(get, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotAcceptable, getResponse.StatusCode);
    }

    [Fact]
    public async Task Unknown_sessions_and_profiles_get_404()
    {
        using var session = await Http.SendAsync(
            RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo"), session: "0123456789abcdef0123456789abcdef"),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.NotFound, session.StatusCode);

        using var profile = await Http.SendAsync(RawMcp.Post(Url("nope"), RawMcp.Call(1, "remote__echo")), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, profile.StatusCode);
        Assert.Contains("Unknown profile 'nope'", await profile.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_session_of_one_profile_is_unknown_to_another()
    {
        using var init = await Http.SendAsync(RawMcp.Post(Url("only-local"), RawMcp.Initialize()), TestContext.Current.CancellationToken);
        var id = init.Headers.GetValues("Mcp-Session-Id").Single();
        using var cross = await Http.SendAsync(RawMcp.Post(Url("mixed"), RawMcp.Call(1, "remote__echo"), session: id), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, cross.StatusCode);
    }

    [Fact]
    public async Task A_deleted_session_is_gone()
    {
        using var init = await Http.SendAsync(RawMcp.Post(Url(), RawMcp.Initialize()), TestContext.Current.CancellationToken);
        var id = init.Headers.GetValues("Mcp-Session-Id").Single();
        var delete = new HttpRequestMessage(HttpMethod.Delete, Url());
        delete.Headers.Add("Mcp-Session-Id", id);
        using var deleted = await Http.SendAsync(delete, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);

        using var after = await Http.SendAsync(RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo"), session: id), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
    }

    [Fact]
    public async Task An_unsupported_protocol_version_header_gets_400()
    {
        var request = RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo", """{"message":"x"}"""));
        request.Headers.Add("MCP-Protocol-Version", "1999-01-01");
        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("1999-01-01", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_or_wrong_tokens_get_401_with_a_bearer_challenge()
    {
        using var missing = await Http.SendAsync(RawMcp.Post(Url("secured"), RawMcp.Call(1, "echo")), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.StartsWith("Bearer", missing.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        var wrong = RawMcp.Post(Url("secured"), RawMcp.Call(1, "echo"));
        wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "nope");
        using var wrongResponse = await Http.SendAsync(wrong, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongResponse.StatusCode);
        Assert.Contains("invalid_token", wrongResponse.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        var right = RawMcp.Post(Url("secured"), RawMcp.Call(1, "echo", """{"message":"ok"}"""));
        right.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", EverythingFixture.Token);
        using var rightResponse = await Http.SendAsync(right, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, rightResponse.StatusCode);
    }

    [Fact]
    public async Task Foreign_origins_and_hosts_are_refused_to_stop_dns_rebinding()
    {
        var origin = RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo"));
        origin.Headers.Add("Origin", "https://evil.example");
        using var originResponse = await Http.SendAsync(origin, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, originResponse.StatusCode);

        var host = RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo"));
        host.Headers.Host = "attacker.example";
        using var hostResponse = await Http.SendAsync(host, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, hostResponse.StatusCode);

        var local = RawMcp.Post(Url(), RawMcp.Call(1, "remote__echo", """{"message":"x"}"""));
        local.Headers.Add("Origin", "http://localhost:3000");
        using var localResponse = await Http.SendAsync(local, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, localResponse.StatusCode);
    }

    [Fact]
    public async Task Stateless_tools_call_needs_no_handshake_and_answers_json()
    {
        using var response = await Http.SendAsync(
            RawMcp.Post(Url(), RawMcp.Call("s-1", "local__echo", """{"message":"stateless"}""")),
            TestContext.Current.CancellationToken
        );
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.StartsWith("""{"result":""", body, StringComparison.Ordinal);
        Assert.Contains("\"id\":\"s-1\"", body, StringComparison.Ordinal);
        Assert.Contains("Echo: stateless", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_is_answered_by_the_gateway()
    {
        using var response = await Http.SendAsync(RawMcp.Post(Url(), """{"jsonrpc":"2.0","id":7,"method":"ping"}"""), TestContext.Current.CancellationToken);
        Assert.Equal("""{"jsonrpc":"2.0","id":7,"result":{}}""", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Health_and_readiness_answer()
    {
        Assert.Equal("ok\n", await Http.GetStringAsync(new Uri(_fixture.Gateway.BaseUrl, "/healthz"), TestContext.Current.CancellationToken));
        Assert.Equal("ready\n", await Http.GetStringAsync(new Uri(_fixture.Gateway.BaseUrl, "/readyz"), TestContext.Current.CancellationToken));
    }
}
